"""One worker of a search: open the study, run trials until it has ``n_trials``, write the outputs.

Any number of workers may run :func:`run_search` on the same study at once; each
stops when the study has ``n_trials`` counted trials, after waiting for (and, if
their workers die, taking over) the trials still running elsewhere. Running it
again resumes.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import optuna
import torch
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

import search_spaces
from nas.training import heatmap
from nas.scheduling import Scheduler, scheduler_config
from nas.study.prune import prune
from nas.genotype import Genotype
from nas.genotype.presets import PRESETS
from nas.study.bookkeeping import counted, describe_running, interrupted, open_study
from nas.study.evaluate import WORKER, run_trial
from nas.study.outputs import Outputs, summary
from nas.study.record import BASELINE, CHILD_GENOTYPE, PRUNED_FROM, STUDY_BASELINES, Status, TrialRecord, \
    check_objectives
from nas.study.rungs import check_cycles
from nas.study.rungs import check_objectives as check_rung_objectives
from nas.study.samplers import make_sampler, worker_seed
from nas.study.settings import check_feasible, check_settings
from nas.study.storage import describe, fail_stale_trials, open_storage
from nas.study.wandb_logger import NullLogger, make_logger
from nas.study.wandb_logger import check as check_logger
from nas.training.data import PreparedData, prepare
from nas.training.trainer import TrainConfig
from nas.training.unit import data_config, resolve_device, train_config


def run_search(cfg: DictConfig, out_dir: Path | None = None, log=print,
               stop_requested: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """The search without Hydra: testable with a composed config."""
    check_settings(cfg)
    check_logger(cfg.logger)
    objectives = check_objectives(cfg.objectives if isinstance(cfg.objectives, str) else list(cfg.objectives))
    space = search_spaces.get(cfg.search_space.name)
    space.validate(cfg.search_space)
    tcfg = train_config(cfg.train)
    scheduler = scheduler_config(cfg.scheduler, tcfg.epochs)
    check_rung_objectives(scheduler, objectives)
    check_cycles(scheduler, tcfg.cycle_ends)
    device = resolve_device(cfg.device)
    if device.type == "cuda" and cfg.gpu_memory_share is not None:  # workers sharing a GPU: each its part
        index = device.index if device.index is not None else torch.cuda.current_device()
        torch.cuda.set_per_process_memory_fraction(float(cfg.gpu_memory_share), index)
    data_cfg = data_config(cfg.data)
    if device.type != "cuda":
        log("no GPU: trials train on the CPU; use train=smoke and a small data.train_size")
    data = prepare(data_cfg, device, channels_last=tcfg.on(device).channels_last)  # bad data stops us before any
    check_feasible(space, cfg, data)  # study is made
    out_dir = out_dir or Path("runs") / cfg.study_name
    out_dir.mkdir(parents=True, exist_ok=True)
    storage = open_storage(cfg.storage)
    study = open_study(storage, cfg.study_name, objectives, make_sampler(cfg.sampler.name, cfg.seed),
                       setup=setup_of(data, tcfg, scheduler))
    existing = len(study.get_trials(deepcopy=False))
    study.sampler = make_sampler(cfg.sampler.name, worker_seed(cfg.seed, cfg.worker, existing))
    if cfg.enqueue_baselines and cfg.worker == 0:
        names = enqueue_baselines(study, space, cfg.search_space)
        if names:
            log(f"baselines first: {', '.join(names)}")
    if scheduler.active:
        log(f"scheduler={scheduler.name}: trials are ranked after epoch(s) "
            f"{', '.join(map(str, scheduler.levels()))} of {scheduler.max_epochs}"
            + (f" ({scheduler.n_brackets} brackets)" if scheduler.n_brackets > 1 else "")
            + f"; at each rung the first 1/{scheduler.eta:g} in Pareto order train on"
            + (" (train.schedule=rung_cycles: each trial's learning-rate cycles end at its rungs)"
               if tcfg.schedule == "rung_cycles" else f" (train.schedule={tcfg.schedule})"))
    done = len(counted(study.get_trials(deepcopy=False)))
    log(f"study {cfg.study_name!r} in {describe(cfg.storage)}: {done} of n_trials={cfg.n_trials} done; "
        f"this is worker {cfg.worker} ({WORKER})"
        + (f", CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}" if cfg.gpu is not None else ""))
    # Worker 0 keeps runs/<study>/ current while the study runs; every worker rewrites it when it stops.
    outputs = Outputs(out_dir, objectives, plot_every=cfg.plot_every, live=cfg.worker == 0)
    if done >= cfg.n_trials:
        log("nothing to do")
        outputs.finish(study.get_trials(deepcopy=False))
    else:
        outputs.logger = logger = make_logger(cfg.logger, cfg.study_name, out_dir, _loggable(cfg))
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.n_trials, desc="trials", file=sys.stderr, disable=not sys.stderr.isatty())
        try:
            outputs.start(study.get_trials(deepcopy=False))
            _work(study, storage, space, data, tcfg, cfg, scheduler, objectives, outputs, logger, log, stop_requested,
                  bar)
        finally:  # also when stopped: the files are whole for the next run
            bar.close()
            outputs.finish(study.get_trials(deepcopy=False))
            logger.close()
    result = summary(study, objectives, outputs)
    if result["n_complete"] == 0:
        log("every trial failed or was ruled out: see the reasons in trials.csv")
    for p in result["pareto"]:
        log("pareto  trial {trial:4d}  {name:32s} ".format(**p) + "  ".join(f"{o}={p[o]:.4g}" for o in objectives))
    return result


def _work(study: optuna.Study, storage, space, data: PreparedData, tcfg: TrainConfig, cfg: DictConfig,
          scheduler: Scheduler, objectives: list[str], outputs: Outputs, logger: NullLogger, log, stop_requested: Callable[[], bool],
          bar) -> None:
    """Run trials until the study has ``n_trials``: fail stale trials, wait while the rest of
    the budget is running elsewhere, and take the queued ones (retries) first."""
    waiting = ""
    first = True
    while True:
        if stop_requested():
            raise KeyboardInterrupt
        _fail_stale(study, storage, cfg.storage.grace_period, log)
        trials = study.get_trials(deepcopy=False)
        done = len(counted(trials))
        bar.update(done - bar.n)  # the study's count: other workers' trials too
        if done >= cfg.n_trials:
            return
        if done + sum(t.state == TrialState.RUNNING for t in trials) >= cfg.n_trials:
            running = describe_running(trials)
            if running != waiting:
                log(f"waiting for trial(s) running in other workers: {running}")
                waiting = running
            time.sleep(cfg.storage.heartbeat_interval)
            continue
        start = time.perf_counter()
        t = run_trial(study, storage, space, data, tcfg, cfg, objectives, log, outputs.out_dir, scheduler)
        if t is None:
            continue
        record = TrialRecord.of(t)
        if record.status.trained:
            logger.trial(record)
        trials = study.get_trials(deepcopy=False)
        outputs.update(trials)
        if cfg.prune_threshold is not None and record.status == Status.OK:
            enqueue_pruned_children(study, cfg.prune_threshold, log)
        seconds = time.perf_counter() - start
        training = record.metrics.get("wall_seconds")
        timing = f" [{seconds:.2f} s, training {training:.2f} s]" if training is not None else f" [{seconds:.2f} s]"
        log(f"trial {t.number}: {record.genotype_name or '?'} {record.status}"
            + (f" {dict(zip(objectives, t.values))}" if t.values else f" ({record.reason})")
            + timing + f" — {len(counted(trials))}/{cfg.n_trials}")
        left = cfg.n_trials - done - 1
        if first and left > 0 and record.status == Status.OK:
            log(f"estimate: ~{seconds * left / 60:.0f} min of this worker's time for the remaining {left} "
                f"trials at {seconds:.0f} s per trial")
            first = False


def enqueue_baselines(study: optuna.Study, space, space_cfg) -> list[str]:
    if study.user_attrs.get(STUDY_BASELINES):
        return []
    names = []
    for name, params in search_spaces.baseline_params(space, space_cfg, PRESETS).items():
        study.enqueue_trial(params, user_attrs={BASELINE: name})
        names.append(name)
    study.set_user_attr(STUDY_BASELINES, names)
    return names


def enqueue_pruned_children(study: optuna.Study, threshold: float, log) -> None:
    """Queue, once per Pareto trial, its genotype without the connections weaker than
    ``threshold`` (:func:`nas.study.prune.prune`), trained with the parent's parameters recorded."""
    done = {r.pruned_from for r in map(TrialRecord.of, study.get_trials(deepcopy=False)) if r.pruned_from is not None}
    for parent in map(TrialRecord.of, study.best_trials):  # the storage's front: other workers' trials too
        number = parent.number
        if number in done or not parent.heatmaps:
            continue
        genotype = Genotype.from_dict(parent.genotype)
        child = prune(genotype, [heatmap.Heatmap.from_dict(d) for d in parent.heatmaps], threshold)
        if child is genotype:
            continue
        study.enqueue_trial(parent.params, user_attrs={PRUNED_FROM: number, CHILD_GENOTYPE: child.to_dict()})
        log(f"trial {number}: its pruned child {child.name} is queued "
            f"({sum(b.connections() for b in genotype.blocks)} → {sum(b.connections() for b in child.blocks)} "
            "connections)")


def _fail_stale(study: optuna.Study, storage: optuna.storages.BaseStorage, grace_period: int, log) -> None:
    """Fail the trials whose workers stopped beating; the retry callback queues them again."""
    before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    if not before:
        return
    fail_stale_trials(study, storage, grace_period)
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if t.number in before and interrupted(t):
            log(f"trial {t.number}: its worker ({TrialRecord.of(t).worker or '?'}) stopped; failed and queued again")


def setup_of(data: PreparedData, tcfg: TrainConfig, scheduler: Scheduler = Scheduler()) -> dict[str, Any]:
    """What a study's results depend on besides the architecture: the data, its split, the
    training budget and the scheduler that stops trials early. A resume on anything else would mix
    incomparable results on one front (or decide rungs by other rules).
    It also says what an exported model takes: its input shape, classes and normalisation."""
    d = data.config
    budget = {k: v for k, v in dataclasses.asdict(tcfg).items()
              if k not in ("progress", "compile", "memory_efficient", "memory_fraction", "memory_limit_gb")}
    return {"data": d.name, "root": str(Path(d.root).expanduser().resolve()), "image_size": list(data.image_size),
            "in_channels": data.in_channels, "classes": len(data.classes), "split_seed": d.split_seed,
            "val_size": len(data.val), "train_size": len(data.train), "crop_padding": d.crop_padding, "flip": d.flip,
            "train": budget, "class_names": list(data.classes),
            "mean": [round(float(v), 6) for v in data.mean], "std": [round(float(v), 6) for v in data.std],
            "scheduler": scheduler.setup()}


def _loggable(cfg: DictConfig) -> dict[str, Any]:
    """The run's configuration for the W&B study run, without the storage URL (it may hold a password)."""
    config = OmegaConf.to_container(cfg, resolve=True)
    config.pop("storage", None)
    return config
