"""One worker of a search: open the study, run trials until it has ``n_trials``, write the outputs.

Any number of workers may run :func:`run_search` on the same study at once; each
stops when the study has ``n_trials`` counted trials, after waiting for (and, if
their workers die, taking over) the trials still running elsewhere. Running it
again resumes.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import TrialState

import search_spaces
from nas.evaluators.interface import Evaluator
from nas.genotype import Genotype
from nas.genotype.presets import PRESETS
from nas.outputs.study_files import Outputs, summary
from nas.outputs.wandb import make_logger
from nas.pareto.dominance import best_trials
from nas.study.record import BASELINE, CHILD_GENOTYPE, PRUNED_FROM, STUDY_BASELINES, Status, TrialRecord
from nas.study.samplers import make_sampler, worker_seed
from nas.study.search_settings import SearchSettings
from nas.study.slots import counted, describe_running, holding, interrupted, open_study, taken
from nas.study.storage import describe, fail_stale_trials, open_storage
from nas.training import heatmap
from nas.workers.prune import prune
from nas.workers.trial import WORKER, run_trial


def run_search(settings: SearchSettings, evaluator: Evaluator, out_dir: Path, log=print,
               stop_requested: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """One worker of the study ``settings`` describe, its trials evaluated by ``evaluator`` (one that runs
    in real time: a simulated evaluator's studies run in :func:`nas.workers.simulate.simulate`)."""
    tcfg, scheduler, objectives = settings.train, settings.scheduler, list(settings.objectives)
    out_dir.mkdir(parents=True, exist_ok=True)
    storage = open_storage(settings.storage)
    setup = {**evaluator.setup(), "scheduler": scheduler.setup(), "screen": settings.screen.setup()}
    study = open_worker_study(storage, settings, setup, log)
    if scheduler.active:
        log(f"scheduler={scheduler.name}: trials are ranked after epoch(s) "
            f"{', '.join(map(str, scheduler.levels()))} of {scheduler.max_epochs}"
            + (f" ({scheduler.n_brackets} brackets)" if scheduler.n_brackets > 1 else "")
            + f"; at each rung the first 1/{scheduler.eta:g} in Pareto order train on"
            + (" (train.protocol=rung_cycles: each trial's learning-rate cycles end at its rungs)"
               if tcfg.protocol == "rung_cycles" else f" (train.protocol={tcfg.protocol})"))
    done = len(counted(study.get_trials(deepcopy=False)))
    log(f"study {settings.study_name!r} in {describe(settings.storage)}: {done} of n_trials={settings.n_trials} "
        f"done; this is worker {settings.worker} ({WORKER})"
        + (f", CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}" if settings.gpu is not None else ""))
    # Worker 0 keeps runs/<study>/ current while the study runs; every worker rewrites it when it stops.
    outputs = Outputs(out_dir, objectives, plot_every=settings.plot_every, live=settings.worker == 0)
    if done >= settings.n_trials:
        log("nothing to do")
        outputs.finish(study.get_trials(deepcopy=False))
    else:
        outputs.logger = logger = make_logger(settings.logger, settings.study_name, out_dir, settings.loggable)
        from tqdm.auto import tqdm

        bar = tqdm(total=settings.n_trials, desc="trials", file=sys.stderr, disable=not sys.stderr.isatty())
        try:
            outputs.start(study.get_trials(deepcopy=False))
            work(study, storage, settings, evaluator, outputs, log, stop_requested, bar.update)
        finally:  # also when stopped: the files are whole for the next run
            bar.close()
            outputs.finish(study.get_trials(deepcopy=False))
            logger.close()
    return report(study, objectives, outputs, log)


def open_worker_study(storage: optuna.storages.BaseStorage, settings: SearchSettings, setup: dict[str, Any],
                      log) -> optuna.Study:
    """This worker's handle on the study: made or loaded (its setup checked), with the sampler
    seeded for this worker, and the baselines queued once."""
    objectives = list(settings.objectives)
    study = open_study(storage, settings.study_name, objectives,
                       make_sampler(settings.sampler, settings.seed, settings.grid), setup=setup)
    existing = len(study.get_trials(deepcopy=False))
    # a grid id must mean one genotype in every worker, and Optuna's grid sampler shuffles its grid with its
    # seed: all grid workers share the study's seed (they still skip the points others have drawn)
    seed = settings.seed if settings.sampler == "grid" else worker_seed(settings.seed, settings.worker, existing)
    study.sampler = make_sampler(settings.sampler, seed, settings.grid)
    if settings.enqueue_baselines and settings.worker == 0:
        names = enqueue_baselines(study, settings.space, settings.search_space)
        if names:
            log(f"baselines first: {', '.join(names)}")
    return study


def report(study: optuna.Study, objectives: list[str], outputs: Outputs, log) -> dict[str, Any]:
    """The study's summary (the command's last output line), its front said in the log."""
    result = summary(study, objectives, outputs)
    if result["n_complete"] == 0:
        log("every trial failed or was ruled out: see the reasons in trials.csv")
    for p in result["pareto"]:
        log("pareto  trial {trial:4d}  {name:32s} ".format(**p) + "  ".join(f"{o}={p[o]:.4g}" for o in objectives))
    return result


def work(study: optuna.Study, storage, settings: SearchSettings, evaluator: Evaluator, outputs: Outputs, log,
         stop_requested: Callable[[], bool] = lambda: False, progress: Callable[[int], Any] = lambda n: None) -> None:
    """Run trials until the study has ``n_trials``: fail stale trials, wait while the rest of
    the budget is running elsewhere, and take the queued ones (retries) first."""
    clock, n_trials = evaluator.clock, settings.n_trials
    deadline = math.inf if settings.timeout is None else clock.now() + settings.timeout
    space = search_spaces.genotype_ids(settings.space, settings.search_space)  # an enumerable space can be used up
    waiting = ""
    first = True
    shown = 0
    while True:
        if stop_requested():
            raise KeyboardInterrupt
        _fail_stale(study, storage, settings.storage.grace_period, log)
        trials = study.get_trials(deepcopy=False)
        done = len(counted(trials))
        progress(done - shown)  # the study's count: other workers' trials too
        shown = done
        if done >= n_trials:
            return
        if space is not None and space <= taken(trials):
            log(f"every genotype of search_space={settings.search_space.name} ({len(space)}) is trained, being trained "
                f"or infeasible: this worker stops ({done} of n_trials={n_trials} counted)")
            return
        if clock.now() >= deadline:
            log(f"timeout={settings.timeout:g} s reached: this worker starts no more trials ({done} of {n_trials} "
                "counted; run again to go on)")
            return
        if done + len(holding(trials)) >= n_trials:
            running = describe_running(trials)
            if running != waiting:
                log(f"waiting for trial(s) running in other workers: {running}")
                waiting = running
            clock.sleep(settings.storage.heartbeat_interval)
            continue
        start = clock.now()
        t = run_trial(study, storage, settings, evaluator, log)
        if t is None:
            continue
        record = TrialRecord.of(t)
        if record.status.trained:
            outputs.logger.trial(record)
        trials = study.get_trials(deepcopy=False)
        outputs.update(trials)
        if settings.prune_threshold is not None and record.status == Status.OK:
            enqueue_pruned_children(study, settings.prune_threshold, log)
        seconds = clock.now() - start
        training = record.metrics.get("wall_seconds")
        timing = f" [{seconds:.2f} s, training {training:.2f} s]" if training is not None else f" [{seconds:.2f} s]"
        log(f"trial {t.number}: {record.genotype_name or '?'} {record.status}"
            + (f" {dict(zip(settings.objectives, t.values))}" if t.values else f" ({record.reason})")
            + (f", screened from {len(record.screen['candidates'])} candidates" if record.screen else "")
            + timing + f" — {len(counted(trials))}/{n_trials}")
        left = n_trials - done - 1
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
    ``threshold`` (:func:`nas.workers.prune.prune`), trained with the parent's parameters recorded."""
    done = {r.pruned_from for r in map(TrialRecord.of, study.get_trials(deepcopy=False)) if r.pruned_from is not None}
    front = best_trials(study.get_trials(deepcopy=False), study.directions)  # other workers' trials too
    for parent in map(TrialRecord.of, front):
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
