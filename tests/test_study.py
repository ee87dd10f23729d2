"""The shared bookkeeping, on hand-made trials: what counts, who gets a slot, who trains."""

from pathlib import Path

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from nas.study.record import RECORD, TrialRecord
from nas.study.slots import claimed, counted, fits, from_queue, holding, interrupted, requeue, retries, taken

DIST = {"x": IntDistribution(0, 9)}


def _study(*trials) -> optuna.Study:
    study = optuna.create_study()
    for state, attrs, system in trials:
        values = [1.0] if state == TrialState.COMPLETE else None
        study.add_trial(create_trial(state=state, values=values, params={"x": 1}, distributions=DIST,
                                     user_attrs=attrs, system_attrs=system))
    return study


def T(state, system=None, **record):
    """A trial in ``state`` whose stored record has the given fields."""
    return state, {RECORD: record} if record else {}, system or {}


C, R, W, F, P = TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING, TrialState.FAIL, TrialState.PRUNED


def test_counted_leaves_out_retried_and_surplus_trials():
    study = _study(T(C, status="ok"), T(F, status="training"), T(P, status="duplicate"), T(F, status="surplus"),
                   T(C, {"failed_trial": 1, "retry_history": [1]}, status="ok"), T(F, status="diverged"))
    assert [t.number for t in counted(study.trials)] == [0, 2, 4, 5]
    assert [interrupted(t) for t in study.trials] == [False, True, False, False, False, False]
    shown = [TrialRecord.of(t).shown_status for t in study.trials]
    assert shown[1] == "interrupted" and shown[5] == "diverged"


def test_a_screens_candidates_hold_no_slot_claim_nothing_and_never_count():
    study = _study(T(C, status="ok", genotype_id="a"), T(R, status="running", genotype_id="b"),
                   T(R, status="screening", genotype_id="c"), T(R, status="screening", genotype_id="d"),
                   T(P, status="screened", genotype_id="e"), T(R))
    trials = study.trials
    assert [t.number for t in counted(trials)] == [0]  # a screened candidate is not a trial of the budget
    assert [t.number for t in holding(trials)] == [1, 5]
    assert fits(trials, 5, 3) and not fits(trials, 5, 2)  # the slots: trials 0, 1 and 5
    assert claimed(trials, 5, "c") is None and claimed(trials, 5, "e") is None  # candidates claim no genotype
    assert claimed(trials, 5, "b") == 1  # the trial holding the slot does, as any running trial
    assert taken(trials) == {"a"}  # what need not be drawn again: trained (or training, or infeasible)


def test_a_dead_trial_that_is_not_retried_still_counts():
    study = _study(T(C, status="ok"), T(F, status="training"))  # max_retry used up: no retry exists
    assert [t.number for t in counted(study.trials)] == [0, 1]


def test_slots_go_in_trial_number_order():
    study = _study(T(C, status="ok"), T(R), T(R), T(F, status="surplus"), T(R))
    trials = study.trials
    assert fits(trials, 1, 2) and not fits(trials, 2, 2) and not fits(trials, 4, 2)
    assert fits(trials, 2, 3) and not fits(trials, 4, 3) and fits(trials, 4, 4)  # surplus takes no slot


def test_queued_trials_hold_their_slot():
    study = _study(T(C, status="ok"), T(W), T(R))
    assert fits(study.trials, 2, 3) and not fits(study.trials, 2, 2)


def test_the_lower_trial_number_keeps_a_genotype():
    study = _study(T(C, status="ok", genotype_id="a"), T(F, status="error", genotype_id="b"),
                   T(R, status="running", genotype_id="c"), T(R, status="running", genotype_id="c"),
                   T(R, status="training", genotype_id="d"), T(R, status="running", genotype_id="d"))
    trials = study.trials
    assert claimed(trials, 9, "a") == 0  # trained
    assert claimed(trials, 9, "b") is None  # an exception is no result: train it again
    assert claimed(trials, 3, "c") == 2 and claimed(trials, 2, "c") is None  # both asked at once: 2 keeps it
    assert claimed(trials, 3, "d") == 4  # a later trial that is already training keeps it too
    assert claimed(trials, 9, "e") is None


def test_requeue_keeps_a_queued_trial_as_it_was():
    study = optuna.create_study()
    study.enqueue_trial({"x": 3}, user_attrs={"baseline": "b"})
    trial = study.ask()
    frozen = next(t for t in study.trials if t.number == trial.number)
    assert from_queue(frozen)
    requeue(study, frozen)
    study.tell(trial, state=TrialState.FAIL)
    again = study.ask(DIST)
    assert again.params == {"x": 3} and again.user_attrs["baseline"] == "b"
    fresh = study.ask(DIST)  # sampled, not queued
    assert not from_queue(study.trials[fresh.number])


def test_retries_map_each_dead_trial_to_its_latest_rerun():
    study = _study(T(F, status="training"), T(F, {"failed_trial": 0, "retry_history": [0]}, status="training"),
                   T(C, {"failed_trial": 0, "retry_history": [0, 1]}, status="ok"))
    assert retries(study.trials) == {0: 1, 1: 2}
    assert TrialRecord.of(study.trials[1]).shown_reason(retries(study.trials)).endswith("run again as trial 2")


def test_a_study_recorded_before_screens_resumes_unscreened_only():
    from nas.study.search_settings import Screen
    from nas.study.slots import open_study

    storage = optuna.storages.InMemoryStorage()
    open_study(storage, "s", ["val_accuracy"], optuna.samplers.RandomSampler(), setup={"data": "folder"})
    same = {"data": "folder", "screen": Screen().setup()}
    assert open_study(storage, "s", ["val_accuracy"], optuna.samplers.RandomSampler(), setup=same).study_name == "s"
    screened = {"data": "folder", "screen": Screen("zero_cost", 8, ("nn_mass", "zico")).setup()}
    with pytest.raises(ValueError, match=r"screen.name='none', not 'zero_cost': .* resume it with screen=none, or"):
        open_study(storage, "s", ["val_accuracy"], optuna.samplers.RandomSampler(), setup=screened)


def test_a_study_run_under_the_old_first_rung_names_the_setting_that_resumes_it():
    from nas.scheduling import ASHA
    from nas.study.slots import open_study

    storage = optuna.storages.InMemoryStorage()
    old = {"data": "folder", "scheduler": ASHA(min_epochs=1, max_epochs=10).setup()}
    open_study(storage, "s", ["val_accuracy"], optuna.samplers.RandomSampler(), setup=old)
    now = {"data": "folder", "scheduler": ASHA(max_epochs=10).setup()}  # first rung at epoch 3
    with pytest.raises(ValueError, match=r"scheduler.min_epochs=1, not 3: .* resume it with scheduler.min_epochs=1, "):
        open_study(storage, "s", ["val_accuracy"], optuna.samplers.RandomSampler(), setup=now)
    again = {"data": "folder", "scheduler": ASHA(min_epochs=1, max_epochs=10).setup()}
    assert open_study(storage, "s", ["val_accuracy"], optuna.samplers.RandomSampler(), setup=again).study_name == "s"


def test_an_ema_study_from_before_ema_followed_the_learning_rate_resumes_only_with_the_old_rule():
    """Its setup recorded no train.ema_follows_lr: its runs were judged on a fixed half-life."""

    from types import SimpleNamespace

    from nas.evaluators.training import Training
    from nas.study.slots import open_study
    from nas.training.config import TrainConfig

    def setup(**train):
        data = SimpleNamespace(config=SimpleNamespace(name="folder", root=".", split_seed=0, crop_padding=4, flip=True),
                               image_size=(8, 8), in_channels=3, classes=("a", "b"), val=[0], train=[0, 1],
                               mean=[0.5] * 3, std=[0.2] * 3)
        return {**Training(data, TrainConfig(**train), ["val_accuracy"], Path(".")).setup(),
                "scheduler": {"name": "none"}, "screen": {"name": "none"}}

    storage = optuna.storages.InMemoryStorage()
    old = setup(protocol="ema")
    del old["train"]["ema_follows_lr"]  # as a study made before issue 28 recorded it
    open_study(storage, "s", ["val_accuracy"], optuna.samplers.RandomSampler(), setup=old)
    with pytest.raises(ValueError, match=r"train.ema_follows_lr=False, not True.*resume it with train.ema_follows_lr=False"):
        open_study(storage, "s", ["val_accuracy"], optuna.samplers.RandomSampler(), setup=setup(protocol="ema"))
    again = setup(protocol="ema", ema_follows_lr=False)
    assert open_study(storage, "s", ["val_accuracy"], optuna.samplers.RandomSampler(), setup=again).study_name == "s"
    assert "ema_follows_lr" not in setup(protocol="onecycle")["train"]  # recorded only where it matters
    renamed = optuna.storages.InMemoryStorage()  # a study recorded when train.protocol was train.schedule
    older = setup(protocol="onecycle")
    older["train"] = {("schedule" if k == "protocol" else k): v for k, v in older["train"].items()}
    study = open_study(renamed, "s", ["val_accuracy"], optuna.samplers.RandomSampler(), setup=older)
    with pytest.raises(ValueError, match=r"train.protocol='onecycle', not 'ema'"):
        open_study(renamed, "s", ["val_accuracy"], optuna.samplers.RandomSampler(), setup=setup(protocol="ema"))
    open_study(renamed, "s", ["val_accuracy"], optuna.samplers.RandomSampler(), setup=setup(protocol="onecycle"))
    assert study.user_attrs["setup"]["train"]["protocol"] == "onecycle"  # rewritten in today's names
