import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from tables import synthetic_table

import nas
from nas.evaluators.clock import SimulatedClock
from nas.pareto.dominance import best_trials, on_front
from nas.pareto.objectives import losses
from nas.scheduling import decide
from nas.settings import parse_search
from nas.study.record import Status, TrialRecord
from nas.tabular.noise import SeedNoise, draw
from nas.tabular.table_file import Table
from nas.workers.simulate import run

CONF = str(Path(nas.__file__).parent / "conf")
OBJECTIVES = ["val_accuracy", "params", "macs"]


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "grid.json"
    synthetic_table(path)
    return path


def _settings(table_path, *extra):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="search", overrides=[
            "search_space=dense_grid", "evaluator=table", f"evaluator.table={table_path}", "logger=none",
            "enqueue_baselines=false", "study_name=sim", f"objectives=[{','.join(OBJECTIVES)}]", *extra])
    return parse_search(cfg)


def _records(study):
    return [TrialRecord.of(t) for t in study.get_trials(deepcopy=False)]


@pytest.mark.parametrize("noise", [True, False])
def test_a_random_study_finds_the_front_of_the_runs_it_drew(table_path, noise):
    study, _ = run(_settings(table_path, "sampler=random", "n_trials=40", "seed=2", f"evaluator.noise={noise}"),
                   log=lambda m: None)
    table = Table.load(table_path)
    model = SeedNoise.of(table) if noise else None
    trials = [t for t in study.get_trials(deepcopy=False) if TrialRecord.of(t).status == Status.OK]
    assert len(trials) > 25  # random draws from 192 genotypes: few duplicates
    # the run each trial replays: drawn at its seed (the study's seed + its number), or the first
    runs = {t.number: draw(table.runs_of(TrialRecord.of(t).genotype_id), model, 2 + t.number,
                           TrialRecord.of(t).genotype_id) for t in trials}
    for t in trials:  # the values told are the drawn run's full-budget values
        assert t.values == [runs[t.number].final[o] for o in OBJECTIVES]
    if noise:
        assert any(runs[t.number].final != table.runs_of(runs[t.number].genotype_id)[0].final for t in trials)
    mask = on_front(np.array([losses(t.values, OBJECTIVES) for t in trials]))
    found = best_trials(study.get_trials(deepcopy=False), study.directions)
    assert {t.number for t in found} == {t.number for t, keep in zip(trials, mask) if keep}


def test_four_grid_workers_draw_every_genotype_once(table_path):
    study, _ = run(_settings(table_path, "sampler=grid", "n_trials=192", "evaluator.workers=4"), log=lambda m: None)
    drawn = [r.genotype_id for r in _records(study)]
    assert len(set(drawn)) == 192  # a grid id means one genotype in every worker


@pytest.fixture(scope="module")
def asha_study(table_path):
    study, clock = run(_settings(table_path, "scheduler=asha", "n_trials=80", "evaluator.workers=4"),
                       log=lambda m: None)
    return study, clock


def _rung_entries(records):
    return {(r.number, rung["bracket"], rung["epoch"]): rung for r in records for rung in r.rungs}


def test_every_simulated_rung_decision_recomputes_from_what_it_saw(asha_study):
    study, _ = asha_study
    records = _records(study)
    rungs = _rung_entries(records)
    decided = [(n, rung) for (n, _, _), rung in rungs.items() if "inherited_from" not in rung]
    assert len(decided) > 60 and any(not rung["go"] for _, rung in decided)
    for n, rung in decided:
        earlier = [rungs[(s, rung["bracket"], rung["epoch"])]["values"] for s in rung["seen"]]
        d = decide(losses([rung["values"][o] for o in OBJECTIVES], OBJECTIVES),
                   [losses([v[o] for o in OBJECTIVES], OBJECTIVES) for v in earlier], 3)
        assert (d.go, d.position, d.of, d.kept) == (rung["go"], rung["position"], rung["of"], rung["kept"]), n


def test_with_four_workers_no_decision_sees_a_result_from_its_future(asha_study):
    study, clock = asha_study
    records = _records(study)
    rungs = _rung_entries(records)
    assert len({r.worker.split("@")[0] for r in records}) == 4  # the workers really shared the study
    overlapping = 0
    for (n, bracket, epoch), rung in rungs.items():
        for s in rung["seen"]:
            assert rungs[(s, bracket, epoch)]["at"] <= rung["at"]
        overlapping += any(r.number > n and r.rungs and r.rungs[0]["at"] < rung["at"] for r in records)
    assert overlapping  # later-numbered trials reached a rung earlier: the workers ran asynchronously
    started = [r.ended - r.trial_seconds for r in sorted(records, key=lambda r: r.number) if r.trial_seconds]
    assert started == sorted(started)  # trials are asked in the order of the simulated clock
    assert max(r.ended for r in records) <= clock.now()


def test_the_schedulers_full_budget_is_the_tables(table_path):
    study, _ = run(_settings(table_path, "scheduler=hyperband", "n_trials=60", "train.epochs=10"), log=lambda m: None)
    assert study.user_attrs["setup"]["scheduler"]["max_epochs"] == 6
    records = [r for r in _records(study) if r.status.trained]
    assert {rung["epoch"] for r in records for rung in r.rungs} == {2}  # a third of the table's 6 epochs
    assert {r.metrics["epochs"] for r in records if r.status == Status.OK} == {6}


def test_a_timeout_stops_each_worker_starting_trials_at_that_simulated_second(table_path):
    full, _ = run(_settings(table_path, "sampler=random", "n_trials=100", "evaluator.workers=2"), log=lambda m: None)
    cut = 0.4 * max(r.ended for r in _records(full) if r.ended is not None)
    study, clock = run(_settings(table_path, "sampler=random", "n_trials=100", "evaluator.workers=2", f"timeout={cut}"),
                       log=lambda m: None)
    starts = [r.ended - r.trial_seconds for r in _records(study) if r.trial_seconds is not None]
    assert 10 < len(starts) < 100 and max(starts) < cut < clock.now()
    drawn = [r.genotype_id for r in _records(study)]
    assert drawn == [r.genotype_id for r in _records(full)][:len(drawn)]  # the same study, cut short


def test_one_seed_replays_the_same_study(table_path):
    def trace():
        study, clock = run(_settings(table_path, "scheduler=asha", "n_trials=30", "evaluator.workers=4", "seed=3"),
                           log=lambda m: None)
        return clock.now(), [(t.number, t.params, t.values, TrialRecord.of(t).stored()) for t in study.trials]

    first, second = trace(), trace()
    assert first == second
    other = run(_settings(table_path, "scheduler=asha", "n_trials=30", "evaluator.workers=4", "seed=4"),
                log=lambda m: None)[0]
    assert [t.params for t in other.trials] != [t[1] for t in first[1]]


def test_the_clock_runs_the_earliest_worker_first():
    clock, order = SimulatedClock(), []

    def worker(name, waits):
        def body():
            for w in waits:
                clock.sleep(w)
                order.append((clock.now(), name))
        return body

    clock.run([worker("a", [5, 5]), worker("b", [3, 3, 3]), worker("c", [10])])
    assert order == [(3, "b"), (5, "a"), (6, "b"), (9, "b"), (10, "a"), (10, "c")]


def test_a_worker_that_fails_ends_the_simulation_with_its_error():
    clock = SimulatedClock()

    def bad():
        clock.sleep(1)
        raise RuntimeError("boom")

    def good():
        for _ in range(100):
            clock.sleep(1)

    with pytest.raises(RuntimeError, match="boom"):
        clock.run([good, bad])


@pytest.mark.parametrize("extra, message", [
    (["search_space.growth=[8,12]"], "search_space.growth=[8, 12, 16], not [8, 12]"),
    (["objectives=[val_accuracy,peak_memory_bytes]"], "evaluator=table: it has no peak_memory_bytes"),
    (["prune_threshold=0.5"], "prune_threshold"),
    (["evaluator.workers=0"], "evaluator.workers=0"),
    (["evaluator.noise=maybe"], "evaluator.noise='maybe': true"),
    (["evaluator.workers=1000", "n_trials=10"], "evaluator.workers=1000: more simulated workers than n_trials=10"),
])
def test_what_a_table_cannot_replay_is_refused_in_one_line(table_path, extra, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run(_settings(table_path, *extra), log=lambda m: None)


def test_a_missing_table_is_named():
    with pytest.raises(ValueError, match="no such table"):
        run(_settings("/nonexistent/table.json"), log=lambda m: None)


def test_the_command_runs_a_200_trial_study_on_the_table(table_path, tmp_path):
    done = subprocess.run([sys.executable, "-m", "nas.search", "search_space=dense_grid", "evaluator=table",
                           f"evaluator.table={table_path}", "evaluator.workers=4", "scheduler=asha", "n_trials=200",
                           "logger=none", "study_name=sim200", f"hydra.run.dir={tmp_path / 'hydra'}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["n_complete"] + result["n_stopped"] + result["n_duplicate"] == 200
    assert result["simulated_seconds"] > 0 and result["pareto"]
    rows = (tmp_path / "runs" / "sim200" / "trials.csv").read_text().splitlines()
    assert len(rows) >= 201


def test_a_table_without_repeats_replays_noise_free_only(tmp_path):
    path = tmp_path / "once.json"
    synthetic_table(path, replicas=0)
    with pytest.raises(ValueError, match="0 genotypes trained twice.*set evaluator.noise=false"):
        run(_settings(path, "n_trials=5"), log=lambda m: None)
    study, _ = run(_settings(path, "n_trials=5", "evaluator.noise=false"), log=lambda m: None)
    assert len(study.trials) == 5


def test_a_table_with_runs_a_rung_stopped_is_refused_as_a_surrogates_data(tmp_path):
    import dataclasses

    table = synthetic_table(tmp_path / "t.json")
    stopped = dataclasses.replace(table.runs[0], status="stopped", epochs=table.runs[0].epochs[:2])
    dataclasses.replace(table, runs=(stopped, *table.runs[1:])).save(tmp_path / "data.json")
    with pytest.raises(ValueError, match="it holds runs a rung stopped .* fit one on it"):
        run(_settings(tmp_path / "data.json", "n_trials=5"), log=lambda m: None)
