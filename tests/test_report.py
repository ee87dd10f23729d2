import json
from pathlib import Path

from datasets import write_folder
from hydra import compose, initialize_config_dir
from searching import search

import nas
from nas.report import main

CONF = str(Path(nas.__file__).parent / "conf")


def test_report_renders_from_a_small_study(tmp_path, capsys):
    folder = write_folder(tmp_path / "ds", n_per_class=16, classes=3, size=8)
    overrides = ["data=folder", f"data.root={folder}", f"data.cache_dir={tmp_path / 'cache'}", "data.val_size=12",
                 "train=smoke", "train.batch_size=16", "train.progress=false", "device=cpu", "study_name=rep",
                 f"storage.url=sqlite:///{tmp_path / 'runs' / 'rep' / 'study.db'}", "search_space.layers=[2,4]",
                 "search_space.growth=[4,8]", "n_trials=5", "logger=none", "sampler=random", "max_params=20000"]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="search", overrides=overrides)
    result = search(cfg, tmp_path / "runs" / "rep", log=lambda m: None)
    assert main([str(tmp_path / "runs" / "rep")]) == 0
    page = Path(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["report"])
    text = page.read_text()
    for heading in ("Pareto fronts", "Hypervolume over trials", "What sits on the front", "Parameter importances",
                    "Top genotypes", "Failures and exclusions"):
        assert f"<h2>{heading}</h2>" in text, heading
    assert text.count("data:image/png;base64,") >= 2 + min(len(result["pareto"]), 6)  # fronts, hypervolume, heat maps
    assert "http" not in text.replace("http-equiv", "")  # self-contained: nothing fetched
    for p in result["pareto"]:
        assert f"Trial {p['trial']}: {p['name']}" in text
    assert result["n_infeasible"] > 0  # seeded: the random sampler draws some genotypes above max_params
    assert text.count("&gt; max_params 20,000") == result["n_infeasible"]  # each with its reason
    assert (page.parent / "pareto.png").is_file() and (page.parent / "hypervolume.png").is_file()


def test_report_of_a_missing_study(tmp_path, capsys):
    assert main([str(tmp_path / "nothing")]) == 2
    assert "neither study.db nor journal.log" in capsys.readouterr().err


def test_what_sits_on_the_front_counts_trials_not_blocks():
    import optuna
    from conftest import small_genotype

    from nas.analysis.html_report import composition
    from nas.study.record import RECORD, Status, TrialRecord

    genotypes = [small_genotype("full"), small_genotype("full", conv="separable"), small_genotype("clique")]
    trials = [optuna.trial.create_trial(values=[0.5], user_attrs={RECORD: TrialRecord(
        Status.OK, genotype=g.to_dict()).stored()}) for g in genotypes]
    counts = composition(trials)
    assert counts["pattern"] == {"full": 2, "clique": 1}  # two blocks each, yet one trial each
    assert counts["conv"] == {"standard": 2, "separable": 1}
