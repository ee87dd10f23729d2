"""runs/<study>/ as trials finish: appended live, rewritten from the storage, resumed — the same files."""

import filecmp

import numpy as np
import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from nas.analysis.hypervolume import hypervolume
from nas.analysis.pareto import normalised
from nas.genotype import Block, Genotype, Stem
from nas.study.outputs import Outputs
from nas.study.record import RECORD, Status, TrialRecord, directions

OBJECTIVES = ["val_accuracy", "params", "macs"]
FILES = ("trials.csv", "hypervolume.csv", "pareto.csv")


def _trials(n: int = 40) -> list[optuna.trial.FrozenTrial]:
    """Completed, duplicate and diverged trials with a conditional parameter that appears late."""
    rng = np.random.default_rng(1)
    trials = []
    for i in range(n):
        g = Genotype(Stem("cifar", 8), (Block(2 + i % 5, 4 + i),))
        params = {"x": i}
        dists = {"x": IntDistribution(0, 100)}
        if i > 25:  # a parameter first seen late: trials.csv gains a column
            params["late"], dists["late"] = 1, IntDistribution(0, 1)
        status = Status.DUPLICATE if i % 9 == 4 else Status.DIVERGED if i % 11 == 7 else Status.OK
        metrics = {"params": int(10 ** rng.uniform(4, 6)), "macs": int(10 ** rng.uniform(6, 8))}
        values = None
        if status == Status.OK:
            metrics["val_accuracy"] = float(rng.uniform(0.2, 0.9))
            values = [metrics[o] for o in OBJECTIVES]
        record = TrialRecord(status, genotype=g.to_dict(), genotype_id=g.id, genotype_name=g.name, metrics=metrics)
        trials.append(create_trial(state=status.state, values=values, params=params, distributions=dists,
                                   user_attrs={RECORD: record.stored()}))
    return trials


def _study(trials) -> optuna.Study:
    study = optuna.create_study(directions=directions(OBJECTIVES))
    for t in trials:
        study.add_trial(t)
    return study


def _live(out, trials, first: int = 0) -> Outputs:
    """A worker that starts with ``first`` trials stored and takes in the rest one by one."""
    out.mkdir()
    study = _study(trials[:first])
    outputs = Outputs(out, OBJECTIVES, plot_every=3600)
    outputs.rewrite(study.trials, plots=False)
    for t in trials[first:]:
        study.add_trial(t)
        outputs.update(study.get_trials(deepcopy=False))
    return outputs


def _same(a, b) -> None:
    for name in FILES:
        assert filecmp.cmp(a / name, b / name, shallow=False), name
    assert sorted(p.name for p in (a / "pareto").glob("*.yaml")) == sorted(p.name for p in (b / "pareto").glob("*.yaml"))


def test_live_outputs_equal_a_rewrite_from_the_storage(tmp_path):
    trials = _trials()
    live = _live(tmp_path / "live", trials)
    whole = Outputs(tmp_path / "whole", OBJECTIVES)
    (tmp_path / "whole").mkdir()
    study = _study(trials)
    whole.rewrite(study.trials)
    _same(tmp_path / "live", tmp_path / "whole")
    assert set(live.front.members) == {t.number for t in study.best_trials}
    assert (tmp_path / "whole" / "pareto.png").is_file() and (tmp_path / "whole" / "hypervolume.png").is_file()
    header = (tmp_path / "live" / "trials.csv").read_text().splitlines()[0]
    assert "param:late" in header  # the column first seen at trial 26 made it in


def test_a_resumed_study_writes_what_an_uninterrupted_one_does(tmp_path):
    trials = _trials()
    _live(tmp_path / "once", trials).rewrite(_study(trials).trials, plots=False)
    _live(tmp_path / "resumed", trials, first=17).rewrite(_study(trials).trials, plots=False)
    _same(tmp_path / "once", tmp_path / "resumed")


def test_the_hypervolume_history_is_optunas_hypervolume_of_each_prefix(tmp_path):
    trials = _trials(30)
    outputs = _live(tmp_path / "hv", trials)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    points = np.array([normalised(t.values, OBJECTIVES) for t in complete])
    expected = [hypervolume(points[: i + 1], np.ones(3)) for i in range(len(complete))]
    assert outputs.history == pytest.approx(expected, rel=1e-12)
    compute = optuna._hypervolume.compute_hypervolume  # Optuna's exact WFG, as a second opinion
    assert outputs.history[-1] == pytest.approx(compute(points, np.ones(3)), rel=1e-9)
