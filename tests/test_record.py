"""The trial record: what a trial stores, how it reads back, and the row every table shows."""

import json
import math

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState

from nas.pareto.objectives import directions
from nas.study.record import BASELINE, RECORD, Status, TrialRecord


def test_a_record_round_trips_through_a_real_storage(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", directions=directions(["val_accuracy"]))
    study.enqueue_trial({"x": 3}, user_attrs={BASELINE: "densenet_bc40_k12"})
    trial = study.ask({"x": IntDistribution(0, 9)})
    record = TrialRecord(Status.OK, "fine", worker="0@host:1", genotype={"stem": {}}, genotype_id="abc",
                         genotype_name="c8-2xF4k4", metrics={"val_accuracy": 0.5, "val_loss": math.nan, "params": 10},
                         history=[{"epoch": 1, "val_accuracy": 0.5}], heatmaps=[{"block": 1}], trial_seconds=1.5,
                         proxies={"synflow": {"value": 2.0, "seconds": 0.1, "reason": ""},
                                  "nn_mass": {"value": None, "seconds": 0.0, "reason": "clique"}},
                         screen={"screen": "size", "candidates": [{"trial": 0, "expected_gain": 0.1}]})
    record.save(trial)
    study.tell(trial, [0.5], state=record.status.state)
    stored = optuna.load_study(study_name=study.study_name, storage=f"sqlite:///{tmp_path / 's.db'}").trials[0]
    back = TrialRecord.of(stored)
    assert back.status is Status.OK and back.reason == "fine" and back.worker == "0@host:1"
    assert (back.genotype, back.genotype_id, back.genotype_name) == ({"stem": {}}, "abc", "c8-2xF4k4")
    assert back.metrics == {"val_accuracy": 0.5, "val_loss": None, "params": 10}  # NaN is stored as null
    assert back.history == record.history and back.heatmaps == [{"block": 1}] and back.trial_seconds == 1.5
    assert back.proxies == record.proxies and back.screen == record.screen
    assert back.summary()["proxy/synflow"] == 2.0 and "proxy/nn_mass" not in back.summary()
    assert back.row()["proxy:synflow"] == 2.0 and back.row()["proxy:nn_mass"] == ""
    assert back.baseline == "densenet_bc40_k12" and back.number == 0 and back.state == TrialState.COMPLETE
    assert back.params == {"x": 3} and back.values == [0.5]
    assert list(stored.user_attrs) == [BASELINE, RECORD]  # one attribute for the whole record
    json.dumps(stored.user_attrs[RECORD], allow_nan=False)  # strict JSON


@pytest.mark.parametrize("status, state, trained", [
    (Status.OK, TrialState.COMPLETE, True),
    (Status.DIVERGED, TrialState.FAIL, True),
    (Status.CHANCE, TrialState.FAIL, True),
    (Status.OOM, TrialState.FAIL, True),
    (Status.ERROR, TrialState.FAIL, False),
    (Status.DUPLICATE, TrialState.PRUNED, False),
    (Status.INFEASIBLE, TrialState.PRUNED, False),
    (Status.INTERRUPTED, TrialState.FAIL, False),
    (Status.SURPLUS, TrialState.FAIL, False),
    (Status.RUNNING, TrialState.FAIL, False),
    (Status.TRAINING, TrialState.FAIL, False),
    (Status.QUEUED, TrialState.FAIL, False),
    (Status.SCREENING, TrialState.FAIL, False),
    (Status.SCREENED, TrialState.PRUNED, False),  # the sampler reads a candidate not trained as pruned
])
def test_every_status_has_its_state_and_says_whether_a_result_exists(status, state, trained):
    assert status.state == state and status.trained == trained
    assert Status(status.value) is status and str(status) == status.value


def test_a_trial_whose_worker_died_reads_interrupted_and_names_its_rerun():
    died = TrialRecord(Status.TRAINING, number=4, state=TrialState.FAIL)
    assert died.interrupted and died.shown_status == Status.INTERRUPTED
    assert died.shown_reason({4: 9}) == "its worker stopped before it finished; run again as trial 9"
    assert not TrialRecord(Status.TRAINING, state=TrialState.RUNNING).interrupted  # still running
    assert not TrialRecord(Status.ERROR, state=TrialState.FAIL).interrupted


def test_a_trial_with_no_record_yet_is_running():
    study = optuna.create_study()
    study.ask()
    record = TrialRecord.of(study.trials[0])
    assert record.status == Status.RUNNING and record.genotype is None and record.metrics == {}


def test_the_row_has_fixed_columns_then_the_parameters():
    row = TrialRecord(Status.INFEASIBLE, "too big", genotype_id="g", metrics={"params": 10},
                      number=2, state=TrialState.PRUNED, params={"b": 1, "a": 2}).row()
    assert list(row)[:9] == ["trial", "state", "status", "reason", "genotype_id", "name", "baseline", "pruned_from",
                             "worker"]
    assert row["status"] == "infeasible" and row["params"] == 10 and row["val_accuracy"] == ""
    assert list(row)[-2:] == ["param:a", "param:b"]


def test_a_trial_stored_before_the_record_existed_reads_the_same():
    """Studies from earlier versions kept one user attribute per field; they resume and report."""
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.FAIL, params={"x": 1}, distributions={"x": IntDistribution(0, 9)},
        user_attrs={"status": "surplus", "reason": "full", "worker": "1@h:2", "genotype_id": "g", "genotype": {"a": 1},
                    "genotype_name": "n", "params": 7, "val_accuracy": 0.25, "history": [{"epoch": 1}],
                    BASELINE: "densenet_bc40_k12"}))
    old = TrialRecord.of(study.trials[0])
    assert old.status == Status.SURPLUS and old.reason == "full" and old.worker == "1@h:2"
    assert (old.genotype_id, old.genotype, old.genotype_name) == ("g", {"a": 1}, "n")
    assert old.metrics == {"params": 7, "val_accuracy": 0.25} and old.history == [{"epoch": 1}]
    assert old.baseline == "densenet_bc40_k12" and not old.interrupted


def test_a_queued_trial_reads_queued_even_with_the_record_of_the_trial_it_retries():
    study = optuna.create_study()
    study.enqueue_trial({"x": 1}, user_attrs={RECORD: TrialRecord(Status.TRAINING, worker="dead").stored()})
    assert TrialRecord.of(study.trials[0]).shown_status == Status.QUEUED
