"""Multi-objective ASHA from a plain Optuna study's storage: the example, replayed decisions, retries."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from nas.scheduling import ASHA, Hyperband, Scheduler, decide
from nas.scheduling.pareto_asha import RUNGS, ParetoASHA

ROOT = Path(__file__).resolve().parents[1]


def test_the_example_runs_two_workers_on_one_journal_and_every_decision_replays(tmp_path):
    journal = tmp_path / "asha.log"
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "pareto_asha.py"), "--journal", str(journal),
                           "--trials", "20", "--workers", "2"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    study = optuna.load_study(study_name="pareto_asha", storage=JournalStorage(JournalFileBackend(str(journal))))
    trials = study.get_trials()
    assert len(trials) == 40
    states = [t.state for t in trials]
    assert states.count(TrialState.PRUNED) > 0 and states.count(TrialState.COMPLETE) > 0
    by_number = {t.number: t for t in trials}
    signs = np.array([-1.0, 1.0])  # maximize accuracy, minimize cost
    for t in trials:
        rungs = t.user_attrs[RUNGS]
        assert [r["epoch"] for r in rungs] == [1, 3][:len(rungs)]
        assert (t.state == TrialState.PRUNED) == (not rungs[-1]["go"])  # stopped exactly where a rung said so
        for r in rungs:  # each decision from its stored inputs alone: the results it saw, in their order
            if "inherited_from" in r:  # drawn before with the same parameters: that trial's decision
                first = next(s for s in by_number[r["inherited_from"]].user_attrs[RUNGS] if s["epoch"] == r["epoch"])
                assert by_number[r["inherited_from"]].params == t.params
                assert (first["go"], first["position"], first["of"]) == (r["go"], r["position"], r["of"])
                continue
            seen = [next(s for s in by_number[n].user_attrs[RUNGS] if s["epoch"] == r["epoch"]) for n in r["seen"]]
            d = decide(signs * list(r["values"].values()), [signs * list(s["values"].values()) for s in seen], eta=3)
            assert (d.go, d.position, d.of, d.kept) == (r["go"], r["position"], r["of"], r["kept"])
    assert {n for t in trials for r in t.user_attrs[RUNGS] for n in r["seen"]} > {0}  # rungs saw the other worker's


def _objective(asha, log):
    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        for epoch in range(1, 10):
            go = asha.report(trial, epoch, [x * (1 - 0.5 ** epoch), 1 - x])
            log.append((trial.number, epoch, go))
            if not go:
                raise optuna.TrialPruned()
        return x, 1 - x
    return objective


def test_a_retried_trial_takes_over_the_decision_of_the_attempt_before_it():
    asha = ParetoASHA(ASHA(eta=3, min_epochs=1, max_epochs=9))
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0))
    log = []
    study.optimize(_objective(asha, log), n_trials=12)
    first = study.trials[5]
    study.enqueue_trial(first.params)  # the same parameters again: a retry after its worker died
    study.optimize(_objective(asha, log), n_trials=1)
    retry = study.trials[-1]
    for old, new in zip(first.user_attrs[RUNGS], retry.user_attrs[RUNGS]):
        assert new["inherited_from"] == first.number
        assert (new["go"], new["position"], new["of"]) == (old["go"], old["position"], old["of"])
    assert retry.state == first.state


def test_off_its_rungs_a_trial_always_goes_on_and_a_trial_alone_at_a_rung_goes_on():
    asha = ParetoASHA(Hyperband(eta=3, min_epochs=1, max_epochs=9, brackets=None))
    study = optuna.create_study(directions=["maximize", "minimize"])
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    rungs = asha.rungs(trial)
    assert all(asha.report(trial, e, [0.5, 0.5]) for e in range(1, 10))
    assert [r["epoch"] for r in trial.user_attrs.get(RUNGS, [])] == rungs  # recorded at its bracket's rungs only
    with pytest.raises(ValueError, match="2 values for a study of 3 objectives"):
        asha.report(optuna.create_study(directions=["maximize"] * 3).ask(), 1, [0.5, 0.5])


def test_a_diverged_trial_stops_and_workers_must_share_the_scheduler():
    study = optuna.create_study(directions=["maximize", "minimize"])
    asha = ParetoASHA(ASHA(eta=3, min_epochs=1, max_epochs=9))
    assert asha.report(study.ask(), 1, [0.5, 1.0])
    assert not asha.report(study.ask(), 1, [float("nan"), 1.0])
    with pytest.raises(ValueError, match="every worker needs the same scheduler"):
        ParetoASHA(ASHA(eta=2, min_epochs=1, max_epochs=9)).report(study.ask(), 1, [0.5, 1.0])


def test_a_retry_that_copied_the_failed_trials_rungs_records_only_its_own():
    study = optuna.create_study(directions=["maximize", "minimize"])
    asha = ParetoASHA(ASHA(eta=3, min_epochs=1, max_epochs=9))
    first = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    asha.report(first, 1, [0.5, 0.5])
    copied = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    copied.set_user_attr(RUNGS, first.user_attrs[RUNGS])  # as Optuna's retry callback copies them
    asha.report(copied, 1, [0.5, 0.5])
    assert [r["trial"] for r in copied.user_attrs[RUNGS]] == [copied.number]


def test_a_scheduler_without_rungs_is_refused():
    with pytest.raises(ValueError, match="needs a scheduler with rungs"):
        ParetoASHA(Scheduler(max_epochs=9))
