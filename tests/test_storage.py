"""Storages: engines, heartbeats on the journal, retry of stale trials, masked passwords."""

import time

import optuna
import pytest
from optuna.trial import TrialState

from nas.section import Section
from nas.study.record import Status, TrialRecord
from nas.study.storage import (
    PASSWORD_ENV,
    HeartbeatJournalStorage,
    StorageError,
    fail_stale_trials,
    hide_password,
    mask_url,
    open_storage,
    read_storage,
    redact,
    retry_callback,
)


def _cfg(**kw):
    base = {"name": "sqlite", "url": "sqlite:///x.db", "heartbeat_interval": 1, "grace_period": 2, "max_retry": 3}
    return Section.of({**base, **kw})  # what parse_search hands the storage


def test_mask_url():
    assert mask_url("postgresql://nas:s3cr@t@db:5432/x") == "postgresql://nas:***@db:5432/x"
    assert mask_url("postgresql://nas@db/x") == "postgresql://nas@db/x"
    assert mask_url("sqlite:///runs/a/study.db") == "sqlite:///runs/a/study.db"


def test_hide_password_moves_it_to_the_environment(monkeypatch):
    env = {}
    args = hide_password(["n_trials=3", "storage.url=postgresql://nas:pw-1@h:5/db", "storage=postgres"], env)
    assert args == ["n_trials=3", "storage.url=postgresql://nas@h:5/db", "storage=postgres"]
    assert env == {PASSWORD_ENV: "pw-1"}
    monkeypatch.setenv(PASSWORD_ENV, "pw-1")
    assert redact("auth failed for pw-1") == "auth failed for ***"


def test_journal_heartbeats_find_a_dead_workers_trial(tmp_path):
    storage = open_storage(_cfg(name="journal", path=str(tmp_path / "j.log")))
    assert isinstance(storage, HeartbeatJournalStorage)
    study = optuna.create_study(storage=storage)
    alive, dead = study.ask(), study.ask()
    TrialRecord(Status.RUNNING, worker="a").save(alive)
    TrialRecord(Status.RUNNING, worker="b").save(dead)
    storage.record_heartbeat(dead._trial_id)
    for _ in range(3):  # the live worker keeps beating; the dead one stopped
        storage.record_heartbeat(alive._trial_id)
        time.sleep(1)
    assert storage._get_stale_trial_ids(study._study_id) == [dead._trial_id]
    fail_stale_trials(study, storage, grace_period=2)
    trials = study.get_trials()
    assert trials[dead.number].state == TrialState.FAIL and trials[alive.number].state == TrialState.RUNNING
    (retry,) = [t for t in trials if t.state == TrialState.WAITING]
    assert retry.system_attrs["failed_trial"] == dead.number


def test_a_dead_workers_screen_queues_its_slot_again_but_not_its_candidates(tmp_path):
    from nas.study.slots import counted

    storage = open_storage(_cfg(url=f"sqlite:///{tmp_path / 's.db'}"))
    study = optuna.create_study(storage=storage)
    slot, candidate = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)}), study.ask()
    TrialRecord(Status.RUNNING, worker="a").save(slot)
    TrialRecord(Status.SCREENING, worker="a").save(candidate)
    for t in (slot, candidate):
        storage.record_heartbeat(t._trial_id)
    time.sleep(3.2)  # past the grace period (whole seconds in the database): the worker died mid-screen
    fail_stale_trials(study, storage, grace_period=2)
    trials = study.get_trials()
    assert trials[slot.number].state == trials[candidate.number].state == TrialState.FAIL
    (retry,) = [t for t in trials if t.state == TrialState.WAITING]
    assert retry.system_attrs["failed_trial"] == slot.number and retry.params == trials[slot.number].params
    assert counted(trials) == []  # the slot's retry will count; the abandoned candidate never does


def test_a_trial_that_never_beat_is_failed_after_the_grace_period(tmp_path):
    storage = open_storage(_cfg(url=f"sqlite:///{tmp_path / 's.db'}"))
    study = optuna.create_study(storage=storage)
    orphan = study.ask()  # its worker died before its first heartbeat
    fail_stale_trials(study, storage, grace_period=2)
    assert study.get_trials()[orphan.number].state == TrialState.RUNNING  # too young to call dead
    time.sleep(2.2)
    fail_stale_trials(study, storage, grace_period=2)
    assert study.get_trials()[orphan.number].state == TrialState.FAIL
    assert any(t.system_attrs.get("failed_trial") == orphan.number for t in study.get_trials())


def test_retries_stop_at_max_retry():
    study = optuna.create_study()
    trial = study.ask()
    study.tell(trial, state=TrialState.FAIL)
    frozen = study.trials[0]
    retry_callback(0)(study, frozen)
    assert len(study.trials) == 1  # max_retry=0: not queued again


@pytest.mark.parametrize("cfg, message", [
    (dict(name="mongo"), "unknown storage 'mongo'"),
    (dict(heartbeat_interval=5, grace_period=5), "0 < heartbeat_interval < grace_period"),
    (dict(name="postgres", url="sqlite:///x.db"), "is not a postgres URL"),
    (dict(name="postgres", url="???"), "needs storage.url"),
    (dict(name="journal", path="/proc/nas/j.log"), "storage.path='/proc/nas/j.log': cannot make '/proc/nas'"),
    (dict(url="sqlite:////proc/nas/s.db"), "storage.url='sqlite:////proc/nas/s.db': cannot make '/proc/nas'"),
])
def test_bad_storage_settings(cfg, message):
    with pytest.raises(StorageError, match=message):
        open_storage(_cfg(**cfg))


def test_read_storage(tmp_path):
    with pytest.raises(StorageError, match="neither a database URL nor a journal file"):
        read_storage(str(tmp_path / "nothing.log"))
    storage = open_storage(_cfg(name="journal", path=str(tmp_path / "j.log")))
    optuna.create_study(storage=storage, study_name="s")
    assert optuna.load_study(study_name="s", storage=read_storage(str(tmp_path / "j.log")))
