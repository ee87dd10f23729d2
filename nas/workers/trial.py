"""One trial, from ask to tell: genotype, duplicate and constraint checks, training, result.

The trial's :class:`~nas.study.record.TrialRecord` is assembled in memory and
written three times: with its worker and genotype (after the first heartbeat,
before looking for other workers' claims on the genotype), when training starts
(the claim other workers respect), and with the result.
"""

from __future__ import annotations

import copy
import os
import socket
import warnings
from contextlib import ExitStack, nullcontext

import optuna
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import FrozenTrial, TrialState

from nas.evaluators.interface import Evaluator
from nas.genotype import Genotype
from nas.study.record import CHILD_GENOTYPE, Status, TrialRecord, stored_field
from nas.study.search_settings import SearchSettings
from nas.study.slots import claimed, fits, from_queue, hand_back, requeue
from nas.study.storage import Heartbeat
from nas.workers.rungs import SHORTFALL, RungJudge, before_training, shortfall
from nas.workers.screen import Candidate, choose

WORKER = f"{socket.gethostname()}:{os.getpid()}"


def run_trial(study: optuna.Study, storage: optuna.storages.BaseStorage, settings: SearchSettings,
              evaluator: Evaluator, log) -> FrozenTrial | None:
    """Ask, evaluate and tell one trial while its heartbeat runs. None when the trial
    did not take a slot of the budget, or another worker took it over."""
    trial = _ask(study)
    if not fits(study.get_trials(deepcopy=False), trial.number, settings.n_trials):
        mine = _frozen(study, trial.number)
        TrialRecord(Status.SURPLUS, "other workers filled n_trials first; not counted").save(trial)
        if from_queue(mine):
            requeue(study, mine)
        study.tell(trial, state=TrialState.FAIL)
        return None
    record = TrialRecord(Status.RUNNING, worker=f"{settings.worker}@{WORKER}")
    if (settings.screen.active and not from_queue(_frozen(study, trial.number))  # a queued trial runs as queued
            and len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) >= settings.screen.min_trained):
        trial, record = screened(study, storage, trial, record, settings, evaluator)
    retries = settings.storage.max_retry
    beating = isinstance(storage, BaseHeartbeat)  # an in-memory study (a simulated one) has no other process
    try:
        with Heartbeat(storage, trial._trial_id, settings.storage.heartbeat_interval) if beating else nullcontext():
            try:
                values = evaluate(study, trial, record, settings, evaluator)
            except KeyboardInterrupt:
                record.status = Status.INTERRUPTED
                record.reason = "stopped (Ctrl-C or SIGTERM) while running; queued for another worker"
                record.save(trial)
                study.tell(trial, state=TrialState.FAIL)
                hand_back(study, _frozen(study, trial.number), retries)
                raise
            record.save(trial)
        told = study.tell(trial, values, state=record.status.state)
        if record.status == Status.INTERRUPTED:  # to be run again, by whichever worker asks next
            hand_back(study, _frozen(study, trial.number), retries)
        return told
    except optuna.exceptions.UpdateFinishedTrialError:
        log(f"trial {trial.number}: another worker found no heartbeat from this one for "
            f"{settings.storage.grace_period} s and queued the trial again; this run's result is dropped")
        return None


def _ask(study: optuna.Study) -> optuna.Trial:
    with warnings.catch_warnings():  # Optuna expects heartbeats with optimize(); this loop keeps its own
        warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
        return study.ask()


def _frozen(study: optuna.Study, number: int) -> FrozenTrial:
    """A copy of trial ``number`` as stored now (the storage's own object must not change)."""
    return copy.deepcopy(next(t for t in study.get_trials(deepcopy=False) if t.number == number))


def evaluate(study: optuna.Study, trial: optuna.Trial, record: TrialRecord, settings: SearchSettings,
             evaluator: Evaluator) -> list[float] | None:
    """Fill ``record`` in; return the objective values of a completed trial. A trial the scheduler
    stops at a rung has none. Never raises for a bad trial: a failing trial never ends the study."""
    clock = evaluator.clock
    start = clock.now()
    objectives = list(settings.objectives)
    scheduler = settings.scheduler
    try:
        genotype = settings.space.suggest(trial, settings.search_space)
        child = trial.user_attrs.get(CHILD_GENOTYPE)
        if child is not None:  # a pruned child of a Pareto trial (the parent's parameters)
            genotype = Genotype.from_dict(child)
        record.genotype, record.genotype_id, record.genotype_name = genotype.to_dict(), genotype.id, genotype.name
        # After the first heartbeat (a trial with no record is one whose worker may never have beaten),
        # and before looking for other claims: two workers that draw one genotype at once see each other.
        record.save(trial)
        earlier = claimed(study.get_trials(deepcopy=False), trial.number, genotype.id)
        if earlier is not None:
            record.status, record.reason = Status.DUPLICATE, f"same genotype as trial {earlier}; not trained again"
            return None
        seed = record.seed = settings.seed + trial.number
        params, macs = evaluator.size(genotype)
        record.metrics.update(params=params, macs=macs)
        reason = violation(params, macs, settings)
        if reason:
            record.status, record.reason = Status.INFEASIBLE, reason
            return None
        if settings.scored and not record.proxies:  # a screened trial has them from its screening
            record.proxies = evaluator.proxies(genotype, seed, settings.scored)
        judge = None
        if scheduler.active:  # rungs rank on the latencies too: measure them first
            first = before_training(objectives)
            if first and not evaluator.latencies(genotype, seed, first, record):
                return None
            judge = RungJudge(study, trial, record, scheduler, objectives, clock)
        record.status = Status.TRAINING
        record.save(trial)  # the claim other workers read
        evaluator.train(trial.number, genotype, seed, record, judge)
        record.trial_seconds = clock.now() - start
        if record.status == Status.STOPPED:
            trial.set_constraint(SHORTFALL, shortfall(record, scheduler.max_epochs))
        if record.status != Status.OK:
            return None
        return [record.metrics[o] for o in objectives]
    except optuna.exceptions.UpdateFinishedTrialError:
        raise
    except Exception as e:  # noqa: BLE001 - a failing trial never ends the study
        record.status = Status.ERROR
        record.reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:500]
        return None
    finally:
        record.ended = clock.now()


def screened(study: optuna.Study, storage: optuna.storages.BaseStorage, first: optuna.Trial, record: TrialRecord,
             settings: SearchSettings, evaluator: Evaluator) -> tuple[optuna.Trial, TrialRecord]:
    """Draw ``screen.candidates`` trials (``first`` holds this worker's slot of the budget), score each
    before training and return the one :func:`nas.workers.screen.choose` picks, with its record; the
    others are told pruned with status screened. When no candidate can be trained (duplicates,
    infeasible, errors), ``first`` is returned and its evaluation records why."""
    pool: list[tuple[optuna.Trial, TrialRecord, Candidate | None]] = []
    told: set[int] = set()
    beating = isinstance(storage, BaseHeartbeat)
    with ExitStack() as stack:
        try:
            for i in range(settings.screen.candidates):
                trial = first if i == 0 else _ask(study)
                if i > 0 and from_queue(_frozen(study, trial.number)):  # a retry queued meanwhile: not a candidate
                    TrialRecord(Status.SURPLUS, "a queued trial drawn while screening; queued again").save(trial)
                    requeue(study, _frozen(study, trial.number))
                    study.tell(trial, state=TrialState.FAIL)
                    break
                mine = record if i == 0 else TrialRecord(Status.SCREENING, worker=record.worker)
                if i > 0:
                    mine.save(trial)  # before its sampling (slow in a long study): a death meanwhile is no retry
                if beating:
                    stack.enter_context(Heartbeat(storage, trial._trial_id, settings.storage.heartbeat_interval))
                drawn = {c.genotype_id for _, _, c in pool if c is not None}
                pool.append((trial, mine, None))  # in the pool before it is scored: a stop leaves it told
                pool[-1] = (trial, mine, candidate(study, trial, mine, settings, evaluator, drawn))
            viable = [(t, r, c) for t, r, c in pool if c is not None]
            if not viable:
                chosen = pool[0][0]
            else:
                choice = choose(settings.screen, list(settings.objectives), trained(study), [c for _, _, c in viable])
                chosen = viable[choice.chosen][0]
                summary = [{"trial": t.number, "genotype": r.genotype_name, "expected_gain": g}
                           for (t, r, _), g in zip(viable, choice.gains)]
            kept = next(mine for trial, mine, _ in pool if trial is chosen)
            kept.status = Status.RUNNING
            if viable:
                kept.screen = {"screen": settings.screen.name, "reason": choice.reason, "candidates": summary}
            kept.save(chosen)  # holds the slot before ``first`` lets it go
            for trial, mine, c in pool:
                if trial is not chosen:
                    if c is not None:
                        mine.reason = f"screened out for trial {chosen.number}: " + choice.reason
                    _screen_out(study, trial, mine, told)
        except BaseException:  # stopped while screening: no candidate is left running, none is counted
            for trial, mine, _ in pool:
                if trial.number not in told:
                    mine.reason = "the worker stopped while screening"
                    _screen_out(study, trial, mine, told)
            raise
    return chosen, kept


def _screen_out(study: optuna.Study, trial: optuna.Trial, record: TrialRecord, told: set[int]) -> None:
    record.status = Status.SCREENED
    record.save(trial)
    study.tell(trial, state=Status.SCREENED.state)
    told.add(trial.number)


def candidate(study: optuna.Study, trial: optuna.Trial, record: TrialRecord, settings: SearchSettings,
              evaluator: Evaluator, drawn: set[str]) -> Candidate | None:
    """What the screen knows of ``trial``'s genotype before training, filled into ``record``; None
    (``record.reason`` says why) when it cannot be trained: trained or claimed already, drawn by an
    earlier candidate, infeasible, or failing."""
    try:
        genotype = settings.space.suggest(trial, settings.search_space)
        record.genotype, record.genotype_id, record.genotype_name = genotype.to_dict(), genotype.id, genotype.name
        record.save(trial)
        earlier = claimed(study.get_trials(deepcopy=False), trial.number, genotype.id)
        if earlier is not None or genotype.id in drawn:
            record.reason = (f"same genotype as trial {earlier}" if earlier is not None
                             else "same genotype as an earlier candidate")
            return None
        params, macs = evaluator.size(genotype)
        record.metrics.update(params=params, macs=macs)
        record.reason = violation(params, macs, settings)
        if record.reason:
            return None
        record.proxies = evaluator.proxies(genotype, settings.seed + trial.number, settings.scored)
        record.save(trial)
        return Candidate(trial.number, params, macs, {n: p["value"] for n, p in record.proxies.items()},
                         genotype.id)
    except Exception as e:  # noqa: BLE001 - a failing candidate is not trained; the others may be
        record.reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:500]
        return None


def trained(study: optuna.Study) -> list[tuple[Candidate, list[float]]]:
    """The study's completed trials, as the screen's fit reads them."""
    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        metrics, proxies = stored_field(t, "metrics", {}), stored_field(t, "proxies", {})
        out.append((Candidate(t.number, metrics.get("params", 1), metrics.get("macs", 1),
                              {n: p.get("value") for n, p in proxies.items()}, stored_field(t, "genotype_id", "")),
                    list(t.values)))
    return out


def violation(params: int, macs: int, settings: SearchSettings) -> str:
    if settings.max_params is not None and params > settings.max_params:
        return f"{params:,} parameters > max_params {settings.max_params:,}"
    if settings.max_macs is not None and macs > settings.max_macs:
        return f"{macs:,} multiply-adds > max_macs {settings.max_macs:,}"
    return ""
