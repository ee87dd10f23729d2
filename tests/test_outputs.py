"""runs/<study>/ as trials finish: appended live, written whole from the storage, resumed — the same files."""

import filecmp

import numpy as np
import optuna
import pytest
from optuna.distributions import IntDistribution

from nas.genotype import Block, Genotype, Stem
from nas.outputs.study_files import Outputs
from nas.pareto.hypervolume import hypervolume
from nas.pareto.objectives import directions, normalised
from nas.study.record import BASELINE, Status, TrialRecord

OBJECTIVES = ["val_accuracy", "params", "macs"]
FILES = ("trials.csv", "hypervolume.csv", "pareto.csv")
N = 40


def _spec(i: int) -> tuple[dict, dict, TrialRecord, list | None]:
    """Trial i: completed, duplicate or diverged, with a conditional parameter that appears late."""
    rng = np.random.default_rng(i)
    g = Genotype(Stem("cifar", 8), (Block(2 + i % 5, 4 + i),))
    params, dists = {"x": i}, {"x": IntDistribution(0, 100)}
    if i > 25:  # first seen late: trials.csv gains a column
        params["late"], dists["late"] = 1, IntDistribution(0, 1)
    status = Status.DUPLICATE if i % 9 == 4 else Status.DIVERGED if i % 11 == 7 else Status.OK
    metrics = {"params": int(10 ** rng.uniform(4, 6)), "macs": int(10 ** rng.uniform(6, 8))}
    values = None
    if status == Status.OK:
        metrics["val_accuracy"] = float(rng.uniform(0.2, 0.9))
        values = [metrics[o] for o in OBJECTIVES]
    return params, dists, TrialRecord(status, genotype=g.to_dict(), genotype_id=g.id, genotype_name=g.name,
                                      metrics=metrics), values


def _run(study: optuna.Study, numbers: list[int], outputs: Outputs | None = None) -> None:
    """Trials ``numbers`` asked in pairs and told in reverse order (two workers), the outputs
    taking in what finished after each tell. The first is a queued baseline."""
    for a, b in zip(numbers[::2], numbers[1::2]):
        trials = {}
        for i in (a, b):
            params, dists, record, _ = _spec(i)
            if i:  # trial 0 is the queued baseline
                study.enqueue_trial(params)
            trials[i] = study.ask()
            for name, dist in dists.items():
                trials[i].suggest_int(name, dist.low, dist.high)
            record.save(trials[i])
        for i in (b, a):
            *_, record, values = _spec(i)
            study.tell(trials[i], values, state=record.status.state)
            if outputs is not None:
                outputs.update(study.get_trials(deepcopy=False))


def _study(tmp_path) -> optuna.Study:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'study.db'}", directions=directions(OBJECTIVES))
    study.enqueue_trial({"x": 0}, user_attrs={BASELINE: "densenet_bc40_k12"})  # waiting when a worker starts
    return study


def _live(out, study: optuna.Study, first: int) -> Outputs:
    """A worker that starts when ``first`` trials are done (and one is queued) and runs the rest."""
    out.mkdir()
    _run(study, list(range(first)))
    outputs = Outputs(out, OBJECTIVES, plot_every=3600)
    outputs.start(study.get_trials(deepcopy=False))
    _run(study, list(range(first, N)), outputs)
    return outputs


def _same(a, b) -> None:
    """The same files; trials.csv's rows may come in another order (appended as trials finish,
    written whole in trial order)."""
    rows = [sorted((d / "trials.csv").read_text().splitlines()) for d in (a, b)]
    assert rows[0] == rows[1]
    for name in FILES[1:]:
        assert filecmp.cmp(a / name, b / name, shallow=False), name
    assert sorted(p.name for p in (a / "pareto").glob("*.yaml")) == sorted(p.name for p in (b / "pareto").glob("*.yaml"))


def test_live_outputs_equal_the_files_written_from_the_storage(tmp_path):
    (tmp_path / "a").mkdir()
    study = _study(tmp_path / "a")
    live = _live(tmp_path / "live", study, first=0)
    whole = Outputs(tmp_path / "whole", OBJECTIVES)
    (tmp_path / "whole").mkdir()
    whole.finish(study.trials)
    _same(tmp_path / "live", tmp_path / "whole")
    live.finish(study.trials)  # a worker's files rewritten when it stops: the history not doubled
    _same(tmp_path / "live", tmp_path / "whole")
    rows = (tmp_path / "live" / "trials.csv").read_text().splitlines()
    assert len(rows) == 1 + N and "param:late" in rows[0]  # each trial once; the late column made it in
    assert sum(",densenet_bc40_k12," in r for r in rows) == 1  # the queued baseline, once
    assert set(live.front.members) == {t.number for t in study.best_trials}
    assert (tmp_path / "whole" / "pareto.png").is_file() and (tmp_path / "whole" / "hypervolume.png").is_file()


def test_a_resumed_study_writes_live_what_an_uninterrupted_one_does(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    _live(tmp_path / "once", _study(tmp_path / "a"), first=0)
    _live(tmp_path / "resumed", _study(tmp_path / "b"), first=18)  # a new process took over at trial 18
    _same(tmp_path / "once", tmp_path / "resumed")


def test_the_hypervolume_history_is_the_hypervolume_of_each_prefix(tmp_path):
    (tmp_path / "a").mkdir()
    study = _study(tmp_path / "a")
    outputs = _live(tmp_path / "hv", study, first=0)
    complete = sorted((t for t in study.trials if t.values), key=lambda t: t.datetime_complete)  # as they finished
    points = np.array([normalised(t.values, OBJECTIVES) for t in complete])
    expected = [hypervolume(points[: i + 1], np.ones(3)) for i in range(len(complete))]
    assert outputs.history == pytest.approx(expected, rel=1e-12)
    compute = optuna._hypervolume.compute_hypervolume  # Optuna's exact WFG, as a second opinion
    assert outputs.history[-1] == pytest.approx(compute(points, np.ones(3)), rel=1e-9)


def test_a_plot_held_back_by_plot_every_is_drawn_at_the_next_chance(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "out").mkdir()
    study = _study(tmp_path / "a")
    outputs = Outputs(tmp_path / "out", OBJECTIVES, plot_every=3600)
    outputs.start([])
    _run(study, [0, 1], outputs)  # the first front: drawn at once
    first = (tmp_path / "out" / "pareto.png").stat().st_mtime_ns
    _run(study, [2, 3], outputs)  # a front change within plot_every: held back
    assert outputs.plot_pending and (tmp_path / "out" / "pareto.png").stat().st_mtime_ns == first
    outputs.plot_every = 0
    outputs.update(study.get_trials(deepcopy=False))  # no new trial, but the held-back plot is drawn
    assert not outputs.plot_pending and (tmp_path / "out" / "pareto.png").stat().st_mtime_ns > first


@pytest.mark.parametrize("live", [True, False])
def test_weights_stay_exactly_for_the_front_and_for_trials_not_yet_seen(tmp_path, live):
    """Every worker (live or not) drops the checkpoints of the trials it has seen leave the front;
    a checkpoint of a trial it has not seen finish (another worker's, being told) stays."""
    from nas.outputs import weights

    (tmp_path / "a").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    study = _study(tmp_path / "a")
    outputs = Outputs(out, OBJECTIVES, plot_every=3600, live=live)
    folder = out / weights.FOLDER
    folder.mkdir()
    for i in range(N):  # as each worker does before telling: every trained trial's weights written
        (folder / f"trial{i:04d}-x.pt").write_bytes(b"w")
    (folder / f"trial{N + 5:04d}-x.pt").write_bytes(b"w")  # a trial still being told elsewhere
    _run(study, list(range(N)), outputs)
    front = {t.number for t in study.best_trials}
    finished_off_front = {t.number for t in study.trials} - front
    kept = {int(p.name[5:9]) for p in folder.glob("*.pt")}
    assert kept == front | {N + 5} and not kept & finished_off_front
    assert live == (out / "trials.csv").exists()  # only worker 0 writes the files while the study runs
