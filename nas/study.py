"""The study's bookkeeping when several workers share it.

Everything here is derived from the storage, never from a worker's memory, so
any worker (or a restarted one) reaches the same answers:

- which trials count towards ``n_trials`` (:func:`counted`): finished trials,
  except those a retry supersedes (their worker died; the retry runs them again)
  and those a worker gave up because other workers had already filled the budget;
- whether a freshly asked trial fits in the budget (:func:`fits`): trials take the
  budget's slots in trial-number order, which every worker sees the same;
- which genotypes are already trained or being trained (:func:`claimed`).
"""

from __future__ import annotations

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.storage import retry_callback

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
TRAINED = ("ok", "diverged", "chance", "oom")  # a result exists: training it again would give the same
SURPLUS = "surplus"
INTERRUPTED = "interrupted"


def open_study(storage: optuna.storages.BaseStorage, name: str, objectives: dict[str, str],
               sampler: optuna.samplers.BaseSampler) -> optuna.Study:
    """Create or load ``name``; refuses a study that exists with other objectives."""
    study = optuna.create_study(storage=storage, study_name=name, load_if_exists=True,
                                directions=list(objectives.values()), sampler=sampler)
    stored = study.user_attrs.get("objectives")
    if stored is None:
        study.set_user_attr("objectives", list(objectives))
    elif stored != list(objectives):
        raise ValueError(f"study {name!r} exists with objectives {stored}, not {list(objectives)}; "
                         f"run with objectives=[{','.join(stored)}] or choose another study_name")
    return study


def counted(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Trials that count towards ``n_trials``."""
    retried = retries(trials)
    return [t for t in trials if t.state in FINISHED and t.number not in retried
            and t.user_attrs.get("status") != SURPLUS]


def interrupted(t: FrozenTrial) -> bool:
    """A trial whose worker died or was stopped before it finished."""
    return t.state == TrialState.FAIL and t.user_attrs.get("status") in (None, "running", "training", INTERRUPTED)


def fits(trials: list[FrozenTrial], number: int, n_trials: int) -> bool:
    """Whether trial ``number`` takes one of the ``n_trials`` slots: the counted, running and
    queued trials numbered up to it must not exceed the budget."""
    live = {t.number for t in counted(trials)}
    live |= {t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)}
    return sum(n <= number for n in live) <= n_trials


def claimed(trials: list[FrozenTrial], me: int, genotype_id: str) -> int | None:
    """The trial that already trained, or is training, ``genotype_id`` — if any.

    Two workers that draw the same genotype at once both see each other's claim; the
    lower trial number keeps it, so exactly one of them trains.
    """
    for t in trials:
        if t.number == me or t.user_attrs.get("genotype_id") != genotype_id:
            continue
        status = t.user_attrs.get("status")
        if t.state in (TrialState.COMPLETE, TrialState.FAIL) and status in TRAINED:
            return t.number
        if t.state == TrialState.RUNNING and (status == "training" or t.number < me):
            return t.number
    return None


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


def status_of(t: FrozenTrial) -> str:
    """The status shown in reports: a trial whose worker died reads "interrupted"."""
    return INTERRUPTED if interrupted(t) else t.user_attrs.get("status", "")


def reason_of(t: FrozenTrial, retries: dict[int, int]) -> str:
    """The stored reason; for a trial whose worker died, what became of it."""
    reason = t.user_attrs.get("reason", "")
    if interrupted(t) and t.number in retries:
        return f"{reason or 'its worker stopped before it finished'}; run again as trial {retries[t.number]}"
    return reason


def retries(trials: list[FrozenTrial]) -> dict[int, int]:
    """Trial number → the number of the trial that runs it again (from the ``retry_history``
    that Optuna's retry callback writes: every trial in it was run again by the next)."""
    return {history[-1]: t.number for t in trials if (history := t.system_attrs.get("retry_history"))}


def worker_seed(seed: int, worker: int, existing: int = 0) -> int:
    """A distinct sampler seed per worker and per resumption (``existing`` trials in the study):
    the same seed again would redraw the random start-up samples the study already has. A
    fresh study's worker 0 keeps ``seed``, so single-worker runs reproduce."""
    if worker == 0 and existing == 0:
        return seed
    return int(np.random.SeedSequence([seed, worker, existing]).generate_state(1)[0] >> 1)


def describe_running(trials: list[FrozenTrial]) -> str:
    running = [t for t in trials if t.state == TrialState.RUNNING]
    return ", ".join(f"{t.number} ({t.user_attrs.get('worker', '?')})" for t in running)

