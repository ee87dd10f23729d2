"""The study's bookkeeping when several workers share it.

Everything here is derived from the storage, never from a worker's memory, so
any worker (or a restarted one) reaches the same answers:

- which trials count towards ``n_trials`` (:func:`counted`): finished trials,
  except those a retry supersedes (their worker died; the retry runs them again),
  those a worker gave up because other workers had already filled the budget, and a
  screen's candidates that were not trained;
- whether a freshly asked trial fits in the budget (:func:`fits`): trials take the
  budget's slots in trial-number order, which every worker sees the same;
- which genotypes are already trained or being trained (:func:`claimed`).
"""

from __future__ import annotations

import warnings
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.pareto.objectives import directions
from nas.study.record import STUDY_OBJECTIVES, STUDY_SETUP, Status, TrialRecord, current_setup, stored_field
from nas.study.storage import retry_callback

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
# What a study's setup meant when a version did not record it (other missing keys take the new run's value).
UNRECORDED = {"scheduler": {"name": "none"},  # before schedulers, every trial trained fully
              "screen": {"name": "none"},  # before screens, every trial trained the sampler's draw
              "train": {"ema_follows_lr": False}}  # before issue 28, ema's half-life was fixed


def open_study(storage: optuna.storages.BaseStorage, name: str, objectives: list[str],
               sampler: optuna.samplers.BaseSampler, setup: dict[str, Any] | None = None) -> optuna.Study:
    """Create or load ``name``; refuses a study that exists with other objectives, or that
    was run on another ``setup`` (data, split, training budget)."""
    study = optuna.create_study(storage=storage, study_name=name, load_if_exists=True,
                                directions=directions(objectives), sampler=sampler)
    if setup is not None:
        recorded = study.user_attrs.get(STUDY_SETUP)
        stored = None if recorded is None else _fill(current_setup(recorded), setup, UNRECORDED)
        if stored is not None and stored != recorded and stored == setup:  # a version that recorded less, or by old names
            study.set_user_attr(STUDY_SETUP, setup)
        if stored is None:
            study.set_user_attr(STUDY_SETUP, setup)
        elif stored != setup:
            key, old, new = _first_difference(stored, setup)
            settable = key.startswith(("scheduler.", "train.", "screen."))
            setting = f"{key.rpartition('.')[0]}={old}" if key.endswith(".name") else f"{key}={_override(old)}"
            raise ValueError(f"study {name!r} was run with {key}={old!r}, not {new!r}: its results would not compare; "
                             + (f"resume it with {setting}" if settable else "resume it with the same data and budget")
                             + ", or start a new study with another study_name")
    stored = study.user_attrs.get(STUDY_OBJECTIVES)
    if stored is None:  # this worker made the study (or another one did and has not written them yet)
        study.set_user_attr(STUDY_OBJECTIVES, list(objectives))
        stored = list(objectives)
    if stored != list(objectives):
        raise ValueError(f"study {name!r} exists with objectives {stored}, not {list(objectives)}; "
                         f"run with objectives=[{','.join(stored)}] or choose another study_name")
    if study.metric_names != list(objectives):
        with warnings.catch_warnings():  # optuna-dashboard and Optuna's plots show these names
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(objectives))
    return study


def _override(value: Any) -> str:
    """A recorded value as a command-line override writes it (lists as [a,b])."""
    return f"[{','.join(map(str, value))}]" if isinstance(value, list) else str(value)


def _fill(stored: dict[str, Any], setup: dict[str, Any], unrecorded: dict[str, Any]) -> dict[str, Any]:
    """``stored`` with the keys it lacks, at any depth, as ``unrecorded`` says or else as in ``setup``
    (a setting added later, e.g. ``train.cycle_ends``, that the old runs did not depend on)."""
    out = dict(stored)
    for key, value in setup.items():
        if key not in out:
            out[key] = unrecorded.get(key, value)
        elif isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = _fill(out[key], value, unrecorded.get(key, {}) if isinstance(unrecorded.get(key), dict) else {})
    return out


def _first_difference(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> tuple[str, Any, Any]:
    for key in [*new, *(k for k in old if k not in new)]:  # in the order the setup is written
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            if a != b:
                return _first_difference(a, b, f"{prefix}{key}.")
        elif a != b:
            return f"{prefix}{key}", a, b
    raise AssertionError("no difference")


def status(t: FrozenTrial) -> Status:
    return Status(stored_field(t, "status", Status.RUNNING.value))


def counted(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Trials that count towards ``n_trials``."""
    retried = retries(trials)
    return [t for t in trials if t.state in FINISHED and t.number not in retried
            and status(t) not in (Status.SURPLUS, Status.SCREENED, Status.SCREENING)]  # SCREENING: its worker died


def holding(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Running trials that hold a slot of ``n_trials``: all but a screen's extra candidates while they are scored."""
    return [t for t in trials if t.state == TrialState.RUNNING and status(t) != Status.SCREENING]


def interrupted(t: FrozenTrial) -> bool:
    """A trial whose worker died or was stopped before it finished."""
    return TrialRecord.of(t).interrupted


def fits(trials: list[FrozenTrial], number: int, n_trials: int) -> bool:
    """Whether trial ``number`` takes one of the ``n_trials`` slots: the counted, running and
    queued trials numbered up to it must not exceed the budget."""
    live = {t.number for t in counted(trials)}
    live |= {t.number for t in holding(trials)} | {t.number for t in trials if t.state == TrialState.WAITING}
    return sum(n <= number for n in live) <= n_trials


def claimed(trials: list[FrozenTrial], me: int, genotype_id: str) -> int | None:
    """The trial that already trained, or is training, ``genotype_id`` — if any.

    Two workers that draw the same genotype at once both see each other's claim; the
    lower trial number keeps it, so exactly one of them trains.
    """
    running = {t.number for t in holding(trials)}  # a screen's candidates claim nothing until chosen
    for t in trials:
        if t.number == me:
            continue
        if stored_field(t, "genotype_id") != genotype_id:
            continue
        if t.state in FINISHED and status(t).trained:  # stopped trials are PRUNED
            return t.number
        if t.number in running and (status(t) == Status.TRAINING or t.number < me):
            return t.number
    return None


def taken(trials: list[FrozenTrial]) -> set[str]:
    """Genotypes a study need not draw again: trained, being trained, or breaking its constraints."""
    running = {t.number for t in holding(trials)}
    return {stored_field(t, "genotype_id") for t in trials
            if (t.state in FINISHED and (status(t).trained or status(t) == Status.INFEASIBLE))
            or (t.number in running and status(t) == Status.TRAINING)}


def hand_back(study: optuna.Study, trial: FrozenTrial, max_retry: int | None) -> None:
    """Queue a trial this worker stops running (Ctrl-C, SIGTERM) for another worker,
    the way Optuna's retry callback does for a worker that died."""
    retry_callback(max_retry)(study, trial)


def requeue(study: optuna.Study, trial: FrozenTrial) -> None:
    """Put a queued trial (an enqueued baseline or a retry) back in the queue unchanged."""
    study.add_trial(optuna.create_trial(state=TrialState.WAITING, params=trial.params,
                                        distributions=trial.distributions, user_attrs=trial.user_attrs,
                                        system_attrs=trial.system_attrs))


def from_queue(trial: FrozenTrial) -> bool:
    return "fixed_params" in trial.system_attrs or "failed_trial" in trial.system_attrs


def retries(trials: list[FrozenTrial]) -> dict[int, int]:
    """Trial number → the number of the trial that runs it again (from the ``retry_history``
    that Optuna's retry callback writes: every trial in it was run again by the next)."""
    return {history[-1]: t.number for t in trials if (history := t.system_attrs.get("retry_history"))}


def describe_running(trials: list[FrozenTrial]) -> str:
    running = holding(trials)
    return ", ".join(f"{t.number} ({TrialRecord.of(t).worker or '?'})" for t in running)
