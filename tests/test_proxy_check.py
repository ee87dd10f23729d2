import json
from pathlib import Path

import pytest
from datasets import write_folder
from hydra import compose, initialize_config_dir

import nas
import search_spaces
from nas.analysis.brief_training import per_epoch, proxy_check, rank_correlations, sample_genotypes, top_kept
from nas.section import Section
from nas.settings import parse_proxy_check

CONF = str(Path(nas.__file__).parent / "conf")


@pytest.mark.parametrize("brief, long, rho, tau", [
    ([0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8], 1.0, 1.0),        # same order
    ([0.1, 0.2, 0.3, 0.4], [0.8, 0.7, 0.6, 0.5], -1.0, -1.0),      # reversed
    # ranks (1,2,3,4,5) vs (2,1,3,5,4): Σd² = 4 → ρ = 1 - 6·4/(5·24) = 0.8; 8 concordant, 2 discordant → τ = 0.6
    ([1, 2, 3, 4, 5], [2, 1, 3, 5, 4], 0.8, 0.6),
])
def test_rank_correlations_on_known_rankings(brief, long, rho, tau):
    result = rank_correlations(brief, long)
    assert result["spearman"] == pytest.approx(rho) and result["kendall"] == pytest.approx(tau)


def test_rank_correlations_need_three_items():
    with pytest.raises(ValueError, match="≥ 3"):
        rank_correlations([0.1, 0.2], [0.1, 0.2])


def test_each_epoch_is_ranked_against_the_end_of_the_runs_that_trained_every_epoch():
    def run(*accuracies):
        return [{"epoch": e, "val_accuracy": a} for e, a in enumerate(accuracies, start=1)]

    histories = [run(0.1, 0.5, 0.6), run(0.2, 0.4, 0.7), run(0.3, 0.3, 0.8), run(0.9)]  # the last stopped early
    rows = per_epoch(histories, epochs=3)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[0]["spearman"] == pytest.approx(1.0) and rows[1]["spearman"] == pytest.approx(-1.0)
    assert per_epoch(histories[:2], epochs=3) == []  # fewer than three runs to rank
    assert per_epoch(histories, epochs=4) == []  # none reached the budget


def test_top_kept_is_the_share_of_the_ends_top_third_a_rung_keeps():
    end = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]  # top third: items 0 and 1
    assert top_kept([0.9, 0.8, 0.1, 0.1, 0.1, 0.1], end) == 1.0
    assert top_kept([0.9, 0.1, 0.8, 0.1, 0.1, 0.1], end) == 0.5
    assert top_kept([0.1, 0.1, 0.9, 0.8, 0.1, 0.1], end) == 0.0
    assert top_kept([0.5, 0.5, 0.5, 0.5, 0.5, 0.5], end) == 1.0  # ties go to the earlier items
    histories = [[{"epoch": 1, "val_accuracy": a}, {"epoch": 2, "val_accuracy": b}]
                 for a, b in zip([0.1, 0.9, 0.2, 0.3, 0.4, 0.5], end)]
    assert per_epoch(histories, epochs=2)[0]["top_third_kept"] == 0.5  # items 1 and 5 against 0 and 1


def test_under_rung_cycles_the_brief_run_is_one_cycle_and_the_long_runs_end_cycles_at_their_rungs():
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="proxy_check", overrides=["train.protocol=rung_cycles", "train.epochs=3", "factor=3"])
    settings = parse_proxy_check(cfg)
    brief, long = settings.brief, settings.long
    assert (brief.epochs, brief.cycles()) == (3, [])  # not asha's default rungs at epochs 1 (and 3)
    assert (long.epochs, long.cycles()) == (9, [1, 3])
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="proxy_check", overrides=["train.protocol=rung_cycles", "train.epochs=3",
                                                            "train.cycle_ends=[2,4]", "factor=3"])
    assert parse_proxy_check(cfg).long.cycles() == [2, 4]


def test_samples_are_distinct_and_within_the_budget():
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="proxy_check")
    space = search_spaces.get("dense_connectivity")
    genotypes = sample_genotypes(space, Section.of(dict(cfg.search_space)), 6, seed=1, num_classes=10, in_channels=3, max_params=300_000)
    assert len({g.id for g in genotypes}) == 6
    assert genotypes == sample_genotypes(space, Section.of(dict(cfg.search_space)), 6, seed=1, num_classes=10, in_channels=3,
                                         max_params=300_000)  # seeded


def test_proxy_check_end_to_end(tmp_path):
    folder = write_folder(tmp_path / "ds", n_per_class=16, classes=3, size=8)
    overrides = ["data=folder", f"data.root={folder}", f"data.cache_dir={tmp_path / 'cache'}", "data.val_size=12",
                 "train=smoke", "train.batch_size=16", "train.progress=false", "device=cpu", "n_genotypes=3",
                 "factor=2", "search_space.layers=[2,4]", "search_space.growth=[4,8]"]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="proxy_check", overrides=overrides)
    result = proxy_check(parse_proxy_check(cfg), tmp_path / "out", log=lambda m: None)
    assert result["n_genotypes"] == 3 and (result["brief_epochs"], result["long_epochs"]) == (1, 2)
    saved = json.loads((tmp_path / "out" / "result.json").read_text())
    again = rank_correlations([g["brief_val_accuracy"] for g in saved["genotypes"]],
                              [g["long_val_accuracy"] for g in saved["genotypes"]])
    assert result["spearman"] == pytest.approx(again["spearman"], nan_ok=True)  # NaN if a ranking is all ties
    assert result["kendall"] == pytest.approx(again["kendall"], nan_ok=True)
    assert [g["long_epochs"] for g in saved["genotypes"]] == [2, 2, 2]
    assert [r["epoch"] for r in result["per_epoch"]] == [1]  # epoch 1 of the long runs against their end
    again = rank_correlations([g["long_epoch1_val_accuracy"] for g in saved["genotypes"]],
                              [g["long_epoch2_val_accuracy"] for g in saved["genotypes"]])
    assert result["per_epoch"][0]["spearman"] == pytest.approx(again["spearman"], nan_ok=True)
    assert (tmp_path / "out" / "proxy_check.png").is_file()
    assert len((tmp_path / "out" / "proxy_check.csv").read_text().splitlines()) == 4


def test_proxy_check_ranks_the_rungs_of_any_protocol(tmp_path):
    """rung_cycles: the long runs end a cycle at train.cycle_ends, the brief run is one cycle."""
    folder = write_folder(tmp_path / "ds", n_per_class=16, classes=3, size=8)
    overrides = ["data=folder", f"data.root={folder}", f"data.cache_dir={tmp_path / 'cache'}", "data.val_size=12",
                 "train=smoke", "train.batch_size=8", "train.progress=false", "device=cpu", "n_genotypes=3",
                 "factor=4", "search_space.layers=[2,4]", "search_space.growth=[4,8]", "train.protocol=rung_cycles",
                 "train.cycle_ends=[1,2]"]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="proxy_check", overrides=overrides)
    result = proxy_check(parse_proxy_check(cfg), tmp_path / "out", log=lambda m: None)
    assert result["protocol"] == "rung_cycles" and result["cycle_ends"] == [1, 2]
    assert [r["epoch"] for r in result["per_epoch"]] == [1, 2, 3]
    assert all(0 <= r["top_third_kept"] <= 1 for r in result["per_epoch"])
    saved = json.loads((tmp_path / "out" / "result.json").read_text())
    assert saved["cycle_ends"] == [1, 2]
