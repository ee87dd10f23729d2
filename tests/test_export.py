import json
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from hydra import compose, initialize_config_dir
from optuna.distributions import IntDistribution

import nas
from nas import build_model
from nas.export import main
from nas.genotype import Block, Genotype, Head, Stem, Transition
from nas.show import main as inspect_main
from nas.study.record import RECORD, Status, TrialRecord
from nas.study.storage import JournalFileBackend
from nas.training import checkpoint
from nas.training.metrics import count_params


def _genotype(k: int, pattern: str = "full") -> Genotype:
    return Genotype(Stem("cifar", 8), (Block(2, k, pattern), Block(2, k, pattern)), (Transition(0.5),),
                    Head("multiscale") if pattern == "clique" else Head())


def _study(tmp_path, points, journal=False):
    """A stored study whose completed trials have the given (accuracy, genotype)."""
    folder = tmp_path / "runs" / "demo"
    folder.mkdir(parents=True)
    storage = (optuna.storages.JournalStorage(JournalFileBackend(str(folder / "journal.log"))) if journal
               else f"sqlite:///{folder / 'study.db'}")
    study = optuna.create_study(study_name="demo", storage=storage, directions=["maximize", "minimize"])
    for i, (acc, g) in enumerate(points):
        params = count_params(build_model(g))
        study.add_trial(optuna.trial.create_trial(
            params={"i": i}, distributions={"i": IntDistribution(0, 100)}, values=[acc, params],
            user_attrs={RECORD: TrialRecord(Status.OK, genotype=g.to_dict(), genotype_id=g.id, genotype_name=g.name,
                                            metrics={"val_accuracy": acc, "params": params,
                                                     "macs": 1000 * params}).stored()}))
    return folder


@pytest.fixture
def front(tmp_path):
    # sizes grow with k; accuracies: a knee at k=8 (big gain up to it, little after)
    return _study(tmp_path, [(0.30, _genotype(2)), (0.70, _genotype(8)), (0.72, _genotype(32)), (0.50, _genotype(40))])


@pytest.mark.parametrize("how, k", [("best-accuracy", 32), ("smallest", 2), ("knee", 8), ("trial=3", 40)])
def test_picks(front, capsys, how, k):
    assert main([str(front), "--pick", how]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert Genotype.load(result["path"]).blocks[0].growth == k


def test_max_params_filters_the_front(front, capsys):
    small = count_params(build_model(_genotype(8)))
    assert main([str(front), "--pick", "best-accuracy", "--max-params", str(small)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["params"] == small


def test_exported_file_round_trips_into_every_tool(front, tmp_path, capsys):
    out = tmp_path / "model.yaml"
    assert main([str(front), "--pick", "knee", "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    g = Genotype.load(out)
    assert g.id == result["genotype_id"] == _genotype(8).id
    assert count_params(build_model(str(out))) == result["params"]
    assert inspect_main([str(out)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["params"] == result["params"]


@pytest.mark.parametrize("argv, message", [
    (["--pick", "trial=1"], "trial 1 is not a completed trial"),
    (["--pick", "middle"], "--pick 'middle'"),
    (["--pick", "smallest", "--max-params", "10"], "no completed trial has ≤ 10 parameters (the smallest has"),
    (["--pick", "trial=abc"], "--pick 'trial=abc': give a trial number"),
])
def test_errors(tmp_path, capsys, argv, message):
    folder = _study(tmp_path, [(0.5, _genotype(4))])
    optuna.load_study(study_name="demo", storage=f"sqlite:///{folder / 'study.db'}").enqueue_trial({"i": 1})
    assert main([str(folder), *argv]) == 2
    assert message in capsys.readouterr().err


def test_missing_study(tmp_path, capsys):
    assert main([str(tmp_path / "nothing")]) == 2
    assert "has neither study.db nor journal.log" in capsys.readouterr().err


def test_exports_from_a_journal_study(tmp_path):
    folder = _study(tmp_path, [(0.3, _genotype(2)), (0.7, _genotype(8))], journal=True)
    assert main([str(folder), "--pick", "best-accuracy", "--out", str(tmp_path / "best.yaml")]) == 0
    assert Genotype.load(tmp_path / "best.yaml") == _genotype(8)
    assert main([str(tmp_path), "--storage", str(folder / "journal.log"), "--study-name", "demo",
                 "--pick", "smallest", "--out", str(tmp_path / "small.yaml")]) == 0
    assert Genotype.load(tmp_path / "small.yaml") == _genotype(2)


@pytest.mark.parametrize("pattern", ["full", "clique"])
def test_onnx_outputs_match(tmp_path, capsys, pattern):
    folder = _study(tmp_path, [(0.5, _genotype(4, pattern))])
    assert main([str(folder), "--pick", "best-accuracy", "--onnx", "--input-size", "16", "16"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["onnx"].endswith(".onnx") and result["onnx_max_abs_diff"] < 1e-4


def test_the_knee_of_a_front_whose_smallest_trial_is_also_the_most_accurate():
    from nas.analysis.selection import knee

    small_and_best = TrialRecord(Status.OK, number=1, metrics={"val_accuracy": 0.90, "params": 100_000, "macs": 1000})
    other = TrialRecord(Status.OK, number=0, metrics={"val_accuracy": 0.50, "params": 200_000, "macs": 10})
    assert knee([other, small_and_best]) is small_and_best  # no chord: nothing beats it on either axis


def test_a_damaged_study_file_is_named_as_damaged(tmp_path, capsys):
    folder = tmp_path / "runs" / "demo"
    folder.mkdir(parents=True)
    (folder / "study.db").write_bytes(bytes(range(256)) * 20)  # not an SQLite file
    assert main([str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "study.db" in err and "damaged or not an SQLite database" in err
    assert "password" not in err  # not the PostgreSQL advice


# ---- a real (tiny) search: the input it recorded and the weights it kept ------------------

def _search(tmp_path, grey=False, size=8, n_trials=4):
    from datasets import write_folder
    from hydra import compose, initialize_config_dir
    from searching import search

    import nas

    data = write_folder(tmp_path / "ds", n_per_class=12, classes=4, size=size, grey=grey)
    out = tmp_path / "runs" / "s"
    with initialize_config_dir(config_dir=str(Path(nas.__file__).parent / "conf"), version_base="1.3"):
        cfg = compose(config_name="search", overrides=[
            "data=folder", f"data.root={data}", f"data.cache_dir={tmp_path / 'cache'}", "data.val_size=12",
            "train=smoke", "train.batch_size=16", "train.progress=false", "device=cpu", "study_name=s",
            f"storage.url=sqlite:///{out / 'study.db'}", "search_space.layers=[2,4]", "search_space.growth=[4,8]",
            f"n_trials={n_trials}", "logger=none", "enqueue_baselines=false"])
    return out, search(cfg, out, log=lambda m: None)


def _last_json(text):
    return json.loads(text.strip().splitlines()[-1])


def test_the_search_keeps_the_weights_of_its_pareto_trials_and_export_takes_them(tmp_path, capsys):
    import onnx
    import onnxruntime as ort

    out, result = _search(tmp_path)
    front = {p["trial"] for p in result["pareto"]}
    kept = {int(p.name[5:9]) for p in (out / "weights").glob("*.pt")}
    assert kept == front  # dropped as soon as a trial left the front

    assert main([str(out), "--pick", "best-accuracy", "--onnx", "--out", str(tmp_path / "m.yaml")]) == 0
    captured = capsys.readouterr()
    exported = _last_json(captured.out)
    assert "WARNING" not in captured.err and exported["weights"] == str(tmp_path / "m.pt")
    trained = checkpoint.load(tmp_path / "m.pt")
    assert trained.genotype.id == exported["genotype_id"] and trained.class_names == ("class_0", "class_1",
                                                                                       "class_2", "class_3")
    assert not list(tmp_path.glob("*.onnx.data"))  # one self-contained file
    proto = onnx.load(str(tmp_path / "m.onnx"))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["mean"]) == pytest.approx(list(trained.mean)) and meta["weights"] == "trained"
    x = torch.rand(3, 3, 8, 8)
    (logits,) = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"images": x.numpy()})
    with torch.no_grad():  # the trained weights, not a fresh initialisation
        assert torch.allclose(torch.from_numpy(logits), trained.model()(x), atol=1e-4)


def test_a_trial_without_kept_weights_is_exported_untrained_with_a_loud_warning(tmp_path, capsys):
    out, result = _search(tmp_path)
    front = {p["trial"] for p in result["pareto"]}
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{out / 'study.db'}")
    off = [t.number for t in study.trials if t.state.name == "COMPLETE" and t.number not in front]
    number = off[0] if off else next(iter(front))
    if not off:  # every trial on the front: take one's weights away
        next((out / "weights").glob(f"trial{number:04d}-*.pt")).unlink()
    assert main([str(out), "--pick", f"trial={number}", "--onnx", "--out", str(tmp_path / "u.yaml")]) == 0
    captured = capsys.readouterr()
    assert _last_json(captured.out)["weights"] is None
    assert "WARNING" in captured.err and "NOT TRAINED" in captured.err and len(captured.err.splitlines()) == 1


def test_onnx_export_takes_the_studys_input_shape_and_classes(tmp_path, capsys):
    import onnxruntime as ort

    out, _ = _search(tmp_path, grey=True, size=12, n_trials=1)
    for f in (out / "weights").glob("*.pt"):
        f.unlink()  # untrained: the shape must come from the study itself
    assert main([str(out), "--pick", "best-accuracy", "--onnx", "--out", str(tmp_path / "g.yaml")]) == 0
    shape = _last_json(capsys.readouterr().out)["input"]
    assert shape["in_channels"] == 1 and shape["image_size"] == [12, 12] and shape["classes"] == 4
    (logits,) = ort.InferenceSession(str(tmp_path / "g.onnx")).run(None, {"images": np.zeros((2, 1, 12, 12), np.float32)})
    assert logits.shape == (2, 4)
    assert main([str(out), "--pick", "best-accuracy", "--onnx", "--input-size", "32", "32"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--input-size 32×32 contradicts the study's data" in err


def test_max_params_picks_over_the_pareto_set_of_the_trials_that_fit(tmp_path, capsys):
    """objectives [val_accuracy, latency]: the small trial is off the study's front, yet the best that fits."""
    folder = tmp_path / "runs" / "lat"
    folder.mkdir(parents=True)
    study = optuna.create_study(study_name="lat", storage=f"sqlite:///{folder / 'study.db'}",
                                directions=["maximize", "minimize"])
    for i, (acc, latency, k) in enumerate([(0.9, 1.0, 32), (0.6, 2.0, 4), (0.5, 1.5, 2)]):
        g = _genotype(k)
        params = count_params(build_model(g))
        study.add_trial(optuna.trial.create_trial(
            params={"i": i}, distributions={"i": IntDistribution(0, 100)}, values=[acc, latency],
            user_attrs={RECORD: TrialRecord(Status.OK, genotype=g.to_dict(), genotype_id=g.id, genotype_name=g.name,
                                            metrics={"val_accuracy": acc, "params": params, "macs": 1}).stored()}))
    limit = count_params(build_model(_genotype(4)))
    assert main([str(folder), "--pick", "best-accuracy", "--max-params", str(limit)]) == 0
    assert _last_json(capsys.readouterr().out)["trial"] == 1
    assert main([str(folder), "--pick", "smallest", "--max-params", str(limit)]) == 0
    assert _last_json(capsys.readouterr().out)["trial"] == 2


@pytest.mark.parametrize("argv, message", [
    (["--pick", "trial=0", "--max-params", "100000"], "--pick trial=0 names one trial and --max-params chooses"),
    (["--max-params", "0"], "--max-params 0: give a positive number"),
    (["--onnx", "--in-channels", "0"], "--in-channels 0: must be at least 1"),
    (["--checkpoint", "nowhere.pt"], "checkpoint 'nowhere.pt' does not exist"),
    (["--onnx", "--out", "model.onnx"], "--out model.onnx: name the genotype file .yaml or .json"),
])
def test_contradictory_or_impossible_export_options(tmp_path, capsys, argv, message):
    folder = _study(tmp_path, [(0.5, _genotype(4))])
    assert main([str(folder), *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_a_study_folder_that_cannot_be_written_is_one_line(tmp_path, capsys):
    folder = _study(tmp_path, [(0.5, _genotype(4))])
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert main([str(folder), "--out", str(blocked / "m.yaml")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(blocked) in err


def test_nas_train_of_an_exported_trial_at_its_seed_reproduces_its_accuracy(tmp_path, capsys):
    """The export says the trial's seed and the nas.train command that trains it again; run as the
    command says (its threads included), it ends at the trial's own validation accuracy and loss."""
    import shlex

    from nas.train import run as train_run

    out, result = _search(tmp_path)
    odd = tmp_path / "my models, v1 (it's=1)"  # characters both the shell and Hydra's grammar read
    assert main([str(out), "--pick", "best-accuracy", "--out", str(odd / "m.yaml")]) == 0
    exported = _last_json(capsys.readouterr().out)
    trial = next(TrialRecord.of(t) for t in optuna.load_study(study_name="s", storage=f"sqlite:///{out / 'study.db'}")
                 .get_trials() if t.number == exported["trial"])
    assert exported["seed"] == trial.seed == trial.number  # the study's seed is 0
    words = shlex.split(exported["reproduce"])
    threads, command = words[0], words[1:]
    assert threads == f"OMP_NUM_THREADS={trial.environment['threads']}" and command[:3] == ["python", "-m", "nas.train"]
    with initialize_config_dir(config_dir=str(Path(nas.__file__).parent / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=command[3:] + ["train.progress=false"])
    again = train_run(cfg)
    assert again["val_accuracy"] == trial.metrics["val_accuracy"] == exported["val_accuracy"]
    assert [h["val_loss"] for h in again["history"]] == [h["val_loss"] for h in trial.history]
    assert again["environment"] == trial.environment
    assert again["genotype_id"] == exported["genotype_id"]
