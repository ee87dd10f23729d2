import json

import optuna
import pytest
from optuna.distributions import IntDistribution

from nas import build_model
from nas.export import main
from nas.study.record import RECORD, Status, TrialRecord
from nas.genotype import Block, Genotype, Head, Stem, Transition
from nas.inspect import main as inspect_main
from nas.training.metrics import count_params
from nas.study.storage import JournalFileBackend


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
    (["--pick", "smallest", "--max-params", "10"], "no Pareto trial has ≤ 10 parameters"),
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
