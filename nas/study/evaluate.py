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
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import torch
from omegaconf import DictConfig
from optuna.trial import FrozenTrial, TrialState

from nas.training import heatmap
from nas.genotype import Genotype
from nas.scheduling import Scheduler
from nas.study import weights
from nas.study.bookkeeping import claimed, fits, from_queue, hand_back, requeue
from nas.study.record import CHILD_GENOTYPE, LATENCIES, METRICS, Status, TrialRecord
from nas.study.rungs import SHORTFALL, RungJudge, before_training, shortfall
from nas.study.storage import Heartbeat
from nas.training.data import PreparedData
from nas.training.memory import neighbour_may_hold
from nas.training.metrics import inference_latency
from nas.training.trainer import TrainConfig, free_memory, is_oom
from nas.training.unit import build, fit_in_memory, measure, train_genotype

WORKER = f"{socket.gethostname()}:{os.getpid()}"


def run_trial(study: optuna.Study, storage: optuna.storages.BaseStorage, space, data: PreparedData,
              tcfg: TrainConfig, cfg: DictConfig, objectives: list[str], log, out_dir: Path,
              scheduler: Scheduler) -> FrozenTrial | None:
    """Ask, evaluate and tell one trial while its heartbeat runs. None when the trial
    did not take a slot of the budget, or another worker took it over."""
    with warnings.catch_warnings():  # Optuna expects heartbeats with optimize(); this loop keeps its own
        warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
        trial = study.ask()
    if not fits(study.get_trials(deepcopy=False), trial.number, cfg.n_trials):
        mine = _frozen(study, trial.number)
        TrialRecord(Status.SURPLUS, "other workers filled n_trials first; not counted").save(trial)
        if from_queue(mine):
            requeue(study, mine)
        study.tell(trial, state=TrialState.FAIL)
        return None
    record = TrialRecord(Status.RUNNING, worker=f"{cfg.worker}@{WORKER}")
    try:
        with Heartbeat(storage, trial._trial_id, cfg.storage.heartbeat_interval):
            try:
                values = evaluate(study, trial, record, space, data, tcfg, cfg, objectives, out_dir, scheduler)
            except KeyboardInterrupt:
                record.status = Status.INTERRUPTED
                record.reason = "stopped (Ctrl-C or SIGTERM) while running; queued for another worker"
                record.save(trial)
                study.tell(trial, state=TrialState.FAIL)
                hand_back(study, _frozen(study, trial.number), cfg.storage.max_retry)
                raise
            record.save(trial)
        told = study.tell(trial, values, state=record.status.state)
        if record.status == Status.INTERRUPTED:  # to be run again, by whichever worker asks next
            hand_back(study, _frozen(study, trial.number), cfg.storage.max_retry)
        return told
    except optuna.exceptions.UpdateFinishedTrialError:
        log(f"trial {trial.number}: another worker found no heartbeat from this one for "
            f"{cfg.storage.grace_period} s and queued the trial again; this run's result is dropped")
        return None


def _frozen(study: optuna.Study, number: int) -> FrozenTrial:
    """A copy of trial ``number`` as stored now (the storage's own object must not change)."""
    return copy.deepcopy(next(t for t in study.get_trials(deepcopy=False) if t.number == number))


def evaluate(study: optuna.Study, trial: optuna.Trial, record: TrialRecord, space, data: PreparedData,
             tcfg: TrainConfig, cfg: DictConfig, objectives: list[str], out_dir: Path,
             scheduler: Scheduler) -> list[float] | None:
    """Fill ``record`` in; return the objective values of a completed trial (its weights kept in
    ``out_dir``/weights/ until it is known to be off the front). A trial the ``scheduler`` stops
    at a rung has none. Never raises for a bad trial: a failing trial never ends the study."""
    start = time.perf_counter()
    try:
        genotype = space.suggest(trial, cfg.search_space)
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
        seed = cfg.seed + trial.number
        measured = measure(genotype, data, memory_efficient=tcfg.memory_efficient)  # nothing allocated yet
        _, params, macs = measured
        record.metrics.update(params=params, macs=macs)
        reason = violation(params, macs, cfg)
        if reason:
            record.status, record.reason = Status.INFEASIBLE, reason
            return None
        rules = []
        if scheduler.active:  # rungs rank on the latencies too: measure them first (weights do not matter)
            first = before_training(objectives)
            if first and not fit_in_memory(measured[0], data, tcfg)[3]:  # a refused trial is never built
                fresh = _on_device(build(genotype, data, seed=seed), data, tcfg)
                fitted = _latencies_into(record, fresh, data, tcfg, first)
                del fresh
                free_memory(data.train.device)
                if not fitted:
                    return None
            judge = RungJudge(study, trial, record, scheduler, objectives)
            rules.append(judge)
            tcfg = tcfg.for_rungs(judge.rungs)  # rung_cycles: its cycles end at this trial's rungs
        record.status = Status.TRAINING
        record.save(trial)  # the claim other workers read
        model, result = train_genotype(genotype, data, tcfg, seed=seed, measured=measured, rules=rules)
        record.status, record.reason, record.history = Status(result["status"]), result["reason"], result["history"]
        ran_out = record.status == Status.OOM and result["memory_estimate_bytes"] <= result["memory_cap_bytes"]
        if ran_out and cfg.gpu_memory_share is not None and neighbour_may_hold(data.train.device, cfg.gpu_memory_share):
            # Workers share the GPU and this one was under its share: not a result of this genotype.
            record.status = Status.INTERRUPTED
            record.reason = (f"{result['reason'][:300]} — on a GPU shared with other workers "
                             f"(gpu_memory_share={cfg.gpu_memory_share:g}); queued again (storage.max_retry)")
            return None
        record.metrics.update({k: v for k, v in result.items() if k in METRICS})
        if record.status == Status.OK:
            record.heatmaps = [m.to_dict() for m in heatmap.connection_strengths(model)]
            _latencies_into(record, model, data, tcfg, [o for o in objectives if o not in record.metrics])
        record.trial_seconds = time.perf_counter() - start
        if record.status == Status.STOPPED:
            trial.set_constraint(SHORTFALL, shortfall(record, scheduler.max_epochs))
        if record.status != Status.OK:
            return None
        try:
            weights.keep(out_dir, trial.number, model, genotype, data)
        except OSError as e:  # a full disk costs the weights, not the result
            record.reason = "; ".join(filter(None, [record.reason, f"trained weights not kept: {e}"]))[:500]
        return [record.metrics[o] for o in objectives]
    except optuna.exceptions.UpdateFinishedTrialError:
        raise
    except Exception as e:  # noqa: BLE001 - a failing trial never ends the study
        record.status = Status.ERROR
        record.reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:500]
        return None


def _on_device(model: torch.nn.Module, data: PreparedData, tcfg: TrainConfig) -> torch.nn.Module:
    """The model where, and in the memory format in which, its trial trains."""
    on = tcfg.on(data.train.device)
    return model.to(data.train.device, memory_format=torch.channels_last if on.channels_last else torch.preserve_format)


def _latencies_into(record: TrialRecord, model, data: PreparedData, tcfg: TrainConfig, objectives: list[str]) -> bool:
    """Measure the latency objectives among ``objectives`` into ``record``; False (status oom, the
    rest of the record kept) when the latency batch does not fit."""
    try:
        record.metrics.update(latencies(model, data, tcfg, objectives))
        return True
    except Exception as e:  # noqa: BLE001 - out of memory at the latency batch is a result, not an error
        if not is_oom(e):
            raise
        record.status = Status.OOM
        record.reason = (f"out of memory measuring inference latency on {data.train.device.type} "
                         f"({str(e).splitlines()[0][:160]})"
                         + ("; the training result is kept" if "val_accuracy" in record.metrics else ""))
    free_memory(data.train.device)  # outside the except block: the traceback's tensors can go now
    return False


def latencies(model, data: PreparedData, tcfg: TrainConfig, objectives: list[str]) -> dict[str, Any]:
    """Inference latency on the trial's device, at the precision and memory format the trial trained
    and validated in (bf16 and channels-last on a GPU), measured only when an objective asks for it."""
    device = data.train.device
    on = tcfg.on(device)
    return {key: 1000 * inference_latency(model, data.image_size, batch_size=batch, in_channels=data.in_channels,
                                          device=device, channels_last=on.channels_last, bf16=on.bf16)
            for key, batch in LATENCIES.items() if key in objectives}


def violation(params: int, macs: int, cfg: DictConfig) -> str:
    if cfg.max_params is not None and params > cfg.max_params:
        return f"{params:,} parameters > max_params {cfg.max_params:,}"
    if cfg.max_macs is not None and macs > cfg.max_macs:
        return f"{macs:,} multiply-adds > max_macs {cfg.max_macs:,}"
    return ""
