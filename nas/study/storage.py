"""Study storage: the ``storage=`` config → an Optuna storage with trial heartbeats.

Three engines, one behaviour. ``sqlite`` (one worker process), ``journal`` (Optuna's
append-only log file: several processes on one machine) and ``postgres`` (several
machines). Every running trial has a heartbeat; a trial whose heartbeat stops for
``grace_period`` seconds (its worker was killed) is failed by the next worker that
looks, and :class:`SlotRetry` puts its parameters back in the queue, so another worker
trains it again. For the relational engines these are Optuna's own heartbeats; the
journal has none, so :class:`HeartbeatJournalStorage` keeps them as trial system
attributes with the same interface.

Passwords never leave this module in clear: :func:`mask_url` is applied to every
URL that is printed, and :func:`hide_password` moves a password out of a
command-line ``storage.url`` before Hydra records the overrides.
"""

from __future__ import annotations

import copy
import os
import random
import threading
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import optuna
import sqlalchemy
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages._heartbeat import BaseHeartbeat  # the interface fail_stale_trials() recognises
from optuna.trial import FrozenTrial, TrialState

from nas.files import unwritable
from nas.study.record import Status, TrialRecord

try:  # Optuna ≥ 4.9 renamed the callback and its RDBStorage argument
    from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry

    _CALLBACK_ARG = "heartbeat_stale_trial_callback"
except ImportError:  # pragma: no cover - Optuna < 4.9
    from optuna.storages import RetryFailedTrialCallback as Retry

    _CALLBACK_ARG = "failed_trial_callback"

try:
    from optuna.storages.journal import JournalFileBackend
except ImportError:  # pragma: no cover - Optuna < 4.0
    from optuna.storages import JournalFileStorage as JournalFileBackend

ENGINES = ("sqlite", "journal", "postgres")
PASSWORD_ENV = "NAS_STORAGE_PASSWORD"


@dataclass(frozen=True)
class StorageSettings:
    """The ``storage=`` group (``conf/storage/*.yaml``): the engine, where it lives, and how workers
    that stop beating are found and their trials run again."""

    name: str = "sqlite"
    url: str | None = None  # sqlite, postgres
    path: str | None = None  # journal
    heartbeat_interval: int = 10
    grace_period: int = 60
    max_retry: int | None = 3


class StorageError(ValueError):
    """A storage setting or database that cannot be used; the message says how to fix it."""


# ---- secrets -------------------------------------------------------------------------


def _credentials(url: str) -> tuple[str, str, str] | None:
    """(scheme://, user[:password], host…) of a URL that names a user, else None."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return None
    credentials, _, host = rest.rpartition("@")
    return scheme + sep, credentials, host


def _split_url(url: str) -> tuple[str, str, str, str] | None:
    """(scheme://, user, password, host…) of a URL with a password, else None."""
    parts = _credentials(url)
    if parts is None:
        return None
    user, colon, password = parts[1].partition(":")
    return (parts[0], user, password, parts[2]) if colon and password else None


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***``."""
    parts = _split_url(url)
    return url if parts is None else f"{parts[0]}{parts[1]}:***@{parts[3]}"


def hide_password(args: list[str], environ: dict[str, str] = os.environ) -> list[str]:
    """Move the password of a ``storage.url=…`` override into ``$NAS_STORAGE_PASSWORD``.

    Hydra writes every override into the run folder (``.hydra/``, ``multirun.yaml``)
    and logs them when it launches workers; after this they hold the URL without the
    password. Launched workers inherit the variable; :func:`open_storage` puts it back.
    """
    out = []
    for arg in args:
        key, sep, value = arg.partition("=")
        parts = _split_url(value) if sep and key.lstrip("+~") == "storage.url" else None
        if parts is not None:
            environ[PASSWORD_ENV] = parts[2]
            arg = f"{key}={parts[0]}{parts[1]}@{parts[3]}"
        out.append(arg)
    return out


def _with_password(url: str) -> str:
    """``url`` with the password :func:`hide_password` took out of it, if any."""
    password, parts = os.environ.get(PASSWORD_ENV), _credentials(url)
    if not password or parts is None or _split_url(url) is not None:
        return url
    return f"{parts[0]}{parts[1]}:{password}@{parts[2]}"


def redact(text: str) -> str:
    """``text`` without the storage password (for error messages from database drivers)."""
    password = os.environ.get(PASSWORD_ENV)
    return text.replace(password, "***") if password else text


# ---- heartbeats -----------------------------------------------------------------------


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """Optuna's journal storage with trial heartbeats (it has none of its own).

    The heartbeat is a trial system attribute holding the writer's clock; the journal
    lives on one machine, so every worker reads the same clock.
    """

    def __init__(self, path: str, *, heartbeat_interval: int, grace_period: int,
                 callback: Callable[[optuna.Study, FrozenTrial], None] | None) -> None:
        super().__init__(JournalFileBackend(path))
        self._heartbeat_interval = heartbeat_interval
        self._grace_period = grace_period
        self._callback = callback

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, "heartbeat", time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        stale = []
        for t in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            last = t.system_attrs.get("heartbeat", t.datetime_start.timestamp() if t.datetime_start else now)
            if now - last > self._grace_period:
                stale.append(t._trial_id)
        return stale

    def get_heartbeat_interval(self) -> int | None:
        return self._heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self._callback

    get_failed_trial_callback = get_heartbeat_stale_trial_callback  # the name Optuna < 4.9 calls


class Heartbeat:
    """Beats for one trial from a background thread while the trial trains."""

    def __init__(self, storage: BaseStorage, trial_id: int, interval: float) -> None:
        self._storage, self._trial_id, self._interval = storage, trial_id, interval
        self._stop = threading.Event()
        storage.record_heartbeat(trial_id)  # before training starts: no window without a heartbeat
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{trial_id}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._storage.record_heartbeat(self._trial_id)
            except Exception:  # noqa: BLE001 - the trial finished or the database blinked; the next beat retries
                pass
        if isinstance(self._storage, RDBStorage):
            self._storage.remove_session()  # this thread's connection

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def fail_stale_trials(study: optuna.Study, storage: BaseStorage, grace_period: int) -> None:
    """Fail the running trials whose worker is gone, and queue them again.

    Optuna's check covers trials whose heartbeat stopped; a trial that never had one
    (its worker died between asking and its first beat, or the study predates
    heartbeats) is gone once it is older than the grace period.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    now = datetime.now()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if TrialRecord.of(t).worker or t.datetime_start is None or (now - t.datetime_start).total_seconds() <= grace_period:
            continue
        try:
            if not storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker was first
        callback = storage.get_heartbeat_stale_trial_callback()
        if callback is not None:
            callback(study, copy.deepcopy(storage.get_trial(t._trial_id)))


def read_storage(spec: str) -> BaseStorage | str:
    """A storage to read a finished or running study from: a database URL or a journal file."""
    if "://" in spec:
        url = _with_password(spec)
        try:
            return RDBStorage(url, skip_table_creation=True)
        except ImportError:
            raise StorageError("a PostgreSQL URL needs a driver: pip install -e '.[postgres]'") from None
        except Exception as e:  # noqa: BLE001
            raise _unusable(url, e) from None
    if not Path(spec).is_file():
        raise StorageError(f"storage {spec!r} is neither a database URL nor a journal file")
    return JournalStorage(JournalFileBackend(spec))


def load_study(study_dir: Path, storage: str | None = None, study_name: str | None = None) -> optuna.Study:
    """The study in ``study_dir`` (its study.db or journal.log), or in ``storage``: a database
    URL or a journal file. For the commands that read a study after (or while) it runs."""
    name = study_name or study_dir.name
    if storage is None:
        found = [p for p in (study_dir / "study.db", study_dir / "journal.log") if p.is_file()]
        if not found:
            raise StorageError(f"{str(study_dir)!r} has neither study.db nor journal.log; give --storage "
                               "(a database URL or a journal file) and --study-name")
        storage = f"sqlite:///{found[0]}" if found[0].suffix == ".db" else str(found[0])
    try:
        return optuna.load_study(study_name=name, storage=read_storage(storage))
    except KeyError:
        raise StorageError(f"no study named {name!r} in that storage; give --study-name") from None


# ---- opening --------------------------------------------------------------------------


class SlotRetry(Retry):
    """Optuna's retry, except for a screen's candidate: a dead worker owed its slot's trial, not the
    candidates it was scoring (queued, each would train and count)."""

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if TrialRecord.of(trial).status != Status.SCREENING:
            super().__call__(study, trial)


def retry_callback(max_retry: int | None) -> SlotRetry:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return SlotRetry(max_retry=max_retry)


def describe(cfg: Any) -> str:
    """Where the study lives, printable (no password)."""
    return f"journal {cfg.path}" if cfg.name == "journal" else mask_url(str(cfg.url))


MISSING = "???"  # a value the config leaves to the user (OmegaConf's mark)


def check_storage(cfg: Any) -> None:
    """Raise :class:`StorageError` with a fix for a ``storage=`` config that cannot work, before any data is
    prepared: an unknown engine, a missing or malformed URL, heartbeat or retry settings out of range, a
    study file that cannot be written. Nothing is opened, and nothing is left (a probe folder is made
    and removed to test the study file's folder)."""
    if cfg.name not in ENGINES:
        raise StorageError(f"unknown storage {cfg.name!r}; choose one of {', '.join(ENGINES)}")
    if str(getattr(cfg, "path" if cfg.name == "journal" else "url", None)) == MISSING:
        raise StorageError("storage=journal needs storage.path=FILE" if cfg.name == "journal" else
                           f"storage={cfg.name} needs storage.url=postgresql://USER@HOST:5432/DATABASE")
    interval, grace = cfg.heartbeat_interval, cfg.grace_period
    if not (isinstance(interval, int) and isinstance(grace, int) and 0 < interval < grace):
        raise StorageError(f"storage.heartbeat_interval={interval}, storage.grace_period={grace}: "
                           "need whole seconds with 0 < heartbeat_interval < grace_period")
    retry = cfg.max_retry
    if retry is not None and (isinstance(retry, bool) or not isinstance(retry, int) or retry < 0):
        raise StorageError(f"storage.max_retry={retry}: how often a trial whose worker died is run again; "
                           "a whole number ≥ 0, or null for no limit")
    if cfg.name == "journal":
        _check_file("storage.path", str(cfg.path), Path(str(cfg.path)), "runs/<study>/journal.log")
        return
    url = str(cfg.url)
    scheme = url.partition("://")[0]
    expected = {"sqlite": ("sqlite",), "postgres": ("postgresql", "postgresql+psycopg2", "postgresql+psycopg")}
    if scheme not in expected[cfg.name]:
        example = "sqlite:///runs/<study>/study.db" if cfg.name == "sqlite" else "postgresql://user@host:5432/db"
        raise StorageError(f"storage.url={mask_url(url)!r} is not a {cfg.name} URL; use e.g. {example}")
    if url.startswith("sqlite:///"):
        _check_file("storage.url", url, _sqlite_file(url), "sqlite:///runs/<study>/study.db")


def _check_file(key: str, value: str, path: Path, default: str) -> None:
    why = unwritable(path, file=True)
    if why is not None:
        raise StorageError(f"{key}={value!r}: {why}; choose a path you can write, or leave {key} out for {default}")


def _sqlite_file(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def open_storage(cfg: Any) -> BaseStorage:
    """The storage of ``cfg`` (a ``conf/storage/*.yaml`` group), with heartbeats and retries.

    Raises :class:`StorageError` with a fix for what :func:`check_storage` refuses, a missing
    driver or an unreachable database.
    """
    check_storage(cfg)
    callback = retry_callback(cfg.max_retry)
    interval, grace = cfg.heartbeat_interval, cfg.grace_period
    if cfg.name == "journal":
        path = Path(str(cfg.path))
        path.parent.mkdir(parents=True, exist_ok=True)
        return HeartbeatJournalStorage(str(path), heartbeat_interval=interval, grace_period=grace, callback=callback)
    return _open_rdb(cfg, interval, grace, callback)


def _open_rdb(cfg: Any, interval: int, grace: int, callback: SlotRetry) -> RDBStorage:
    url = str(cfg.url)
    scheme = url.partition("://")[0]
    if url.startswith("sqlite:///"):
        _sqlite_file(url).parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"heartbeat_interval": interval, "grace_period": grace, _CALLBACK_ARG: callback}
    engine = {"connect_args": {"connect_timeout": 10}} if cfg.name == "postgres" else {}
    for attempt in range(3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(_with_password(url), engine_kwargs=engine, **kwargs)
        except ImportError:
            raise StorageError(f"storage={cfg.name} needs a PostgreSQL driver for {scheme}://: "
                               "pip install -e '.[postgres]' (psycopg)") from None
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as e:
            if attempt == 2:
                raise _unusable(url, e) from None
            time.sleep(0.5 + random.random())  # workers that start together race to create the schema
        except Exception as e:  # noqa: BLE001 - SQLAlchemy and the drivers raise many types for one cause
            raise _unusable(url, e) from None
    raise AssertionError("unreachable")


def _unusable(url: str, e: Exception) -> StorageError:
    detail = redact(" ".join(str(getattr(e, "orig", None) or e).split()))[:300]
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        return StorageError(f"cannot read the study file {path} ({type(e).__name__}: {detail}): it is damaged or not "
                            "an SQLite database; move it away to start the study afresh, or give another storage.url")
    return StorageError(f"cannot open the study database {mask_url(url)} ({type(e).__name__}: {detail}); "
                        "check that the server is running and reachable, and the user, password and "
                        "database name in storage.url")
