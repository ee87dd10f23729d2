"""``python -m nas.search``: a multi-objective search over densely connected CNNs.

    python -m nas.search search_space=dense_connectivity n_trials=200

Optuna runs in-process. Every trial turns its parameters into a genotype, is
checked against the constraints *before* training (infeasible genotypes are never
trained), skips genotypes the study has already trained, trains on the data
prepared once for the whole study, and stores the genotype, every metric and any
failure reason as trial attributes. ``n_trials`` is the study's total, shared by
every worker running the same command on the same storage (see ``nas.study`` for
the bookkeeping and ``nas.storage`` for heartbeats); running it again resumes.
Results are written to ``runs/<study_name>/`` after every trial; the last output
line is one JSON object.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import socket
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import hydra
import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

import search_spaces
from nas import heatmap, pareto
from nas.cli import fail, run_app, sigterm_as_interrupt
from nas.data import PreparedData, prepare
from nas.genotype import Genotype
from nas.metrics import inference_latency
from nas.presets import PRESETS
from nas.prune import prune
from nas.train import build_and_count, data_config, resolve_device, train_config, train_genotype
from nas.storage import Heartbeat, describe, fail_stale_trials, open_storage
from nas.study import (INTERRUPTED, SURPLUS, claimed, counted, describe_running, fits, from_queue, hand_back,
                       interrupted, open_study, reason_of, requeue, retries, status_of, worker_seed)
from nas.trainer import TrainConfig
from nas.wandb_logger import NullLogger, make_logger
from nas.wandb_logger import check as check_logger

OBJECTIVES = {
    "val_accuracy": "maximize",
    "val_loss": "minimize",
    "params": "minimize",
    "macs": "minimize",
    "images_per_second": "maximize",
    "peak_memory_bytes": "minimize",
    "latency_batch1_ms": "minimize",
    "latency_batch_ms": "minimize",
}
LATENCY_BATCH = 256  # the "large batch" of latency_batch_ms
SAMPLERS = ("tpe", "nsga2", "random", "gp")
METRICS = ("val_accuracy", "val_loss", "train_loss", "params", "macs", "images_per_second", "train_seconds",
           "wall_seconds", "peak_memory_bytes", "epochs")


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        # multivariate + group: TPE models the conditional parameters (m, bottleneck kinds) jointly
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")


def check_objectives(objectives: list[str]) -> list[str]:
    if not objectives:
        raise ValueError("objectives is empty; give at least one, e.g. objectives=[val_accuracy,params]")
    unknown = [o for o in objectives if o not in OBJECTIVES]
    if unknown:
        raise ValueError(f"unknown objective {unknown[0]!r}; choose from {', '.join(OBJECTIVES)}")
    return list(objectives)


def check_settings(cfg: DictConfig) -> None:
    """Top-level settings with the wrong type or range, refused before anything runs."""
    def whole(key: str, low: int, optional: bool = False) -> None:
        value = cfg[key]
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{key}={value}: must be a whole number ≥ {low}"
                             + (" (the study's total number of trials)" if key == "n_trials" else "")
                             + (", or null for none" if optional else ""))
    whole("n_trials", 1)
    whole("seed", 0)
    whole("worker", 0)
    whole("max_params", 1, optional=True)
    whole("max_macs", 1, optional=True)
    threshold = cfg.prune_threshold
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not 0 < threshold <= 1):
        raise ValueError(f"prune_threshold={threshold}: connection strengths are normalised to [0, 1]; "
                         "choose 0 < prune_threshold ≤ 1, or null for no pruning")
    if cfg.worker > 0 and cfg.storage.name == "sqlite":
        raise ValueError(f"worker={cfg.worker}: storage=sqlite is for one worker process; share a study between "
                         "workers with storage=journal (one machine) or storage=postgres (several)")


def enqueue_baselines(study: optuna.Study, space, space_cfg) -> list[str]:
    if study.user_attrs.get("baselines_enqueued"):
        return []
    names = []
    for name, params in search_spaces.baseline_params(space, space_cfg, PRESETS).items():
        study.enqueue_trial(params, user_attrs={"baseline": name})
        names.append(name)
    study.set_user_attr("baselines_enqueued", names)
    return names


WORKER = f"{socket.gethostname()}:{os.getpid()}"


def run_trial(study: optuna.Study, storage: optuna.storages.BaseStorage, space, data: PreparedData,
              tcfg: TrainConfig, cfg: DictConfig, objectives: list[str], log) -> optuna.trial.FrozenTrial | None:
    """Ask, evaluate and tell one trial while its heartbeat runs. None when the trial
    did not take a slot of the budget, or another worker took it over."""
    with warnings.catch_warnings():  # Optuna expects heartbeats with optimize(); this loop keeps its own
        warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
        trial = study.ask()
    if not fits(study.get_trials(deepcopy=False), trial.number, cfg.n_trials):
        mine = _frozen(study, trial.number)
        trial.set_user_attr("status", SURPLUS)
        trial.set_user_attr("reason", "other workers filled n_trials first; not counted")
        if from_queue(mine):
            requeue(study, mine)
        study.tell(trial, state=TrialState.FAIL)
        return None
    try:
        with Heartbeat(storage, trial._trial_id, cfg.storage.heartbeat_interval):
            # after the first beat: a trial without "worker" is one whose worker may never have beaten
            trial.set_user_attr("worker", f"{cfg.worker}@{WORKER}")
            trial.set_user_attr("status", "running")
            try:
                state, values = _evaluate(study, trial, space, data, tcfg, cfg, objectives)
            except KeyboardInterrupt:
                trial.set_user_attr("status", INTERRUPTED)
                trial.set_user_attr("reason", "stopped (Ctrl-C or SIGTERM) while running; queued for another worker")
                study.tell(trial, state=TrialState.FAIL)
                hand_back(study, _frozen(study, trial.number), cfg.storage.max_retry)
                raise
        return study.tell(trial, values, state=state)
    except optuna.exceptions.UpdateFinishedTrialError:
        log(f"trial {trial.number}: another worker found no heartbeat from this one for "
            f"{cfg.storage.grace_period} s and queued the trial again; this run's result is dropped")
        return None


def _frozen(study: optuna.Study, number: int) -> optuna.trial.FrozenTrial:
    """A copy of trial ``number`` as stored now (the storage's own object must not change)."""
    return copy.deepcopy(next(t for t in study.get_trials(deepcopy=False) if t.number == number))


def _evaluate(study: optuna.Study, trial: optuna.Trial, space, data: PreparedData, tcfg: TrainConfig,
              cfg: DictConfig, objectives: list[str]) -> tuple[TrialState, list[float] | None]:
    start = time.perf_counter()
    try:
        genotype = space.suggest(trial, cfg.search_space)
        if "child_genotype" in trial.user_attrs:  # a pruned child of a Pareto trial (the parent's parameters)
            genotype = Genotype.from_dict(trial.user_attrs["child_genotype"])
        trial.set_user_attr("genotype", genotype.to_dict())
        trial.set_user_attr("genotype_id", genotype.id)
        trial.set_user_attr("genotype_name", genotype.name)
        earlier = claimed(study.get_trials(deepcopy=False), trial.number, genotype.id)
        if earlier is not None:
            trial.set_user_attr("status", "duplicate")
            trial.set_user_attr("reason", f"same genotype as trial {earlier}; not trained again")
            return TrialState.PRUNED, None
        seed = cfg.seed + trial.number
        built = build_and_count(genotype, data, seed=seed, memory_efficient=tcfg.memory_efficient)
        _, params, macs = built
        trial.set_user_attr("params", params)
        trial.set_user_attr("macs", macs)
        reason = _violation(params, macs, cfg)
        if reason:
            trial.set_user_attr("status", "infeasible")
            trial.set_user_attr("reason", reason)
            return TrialState.PRUNED, None
        trial.set_user_attr("status", "training")
        model, result = train_genotype(genotype, data, tcfg, seed=seed, built=built)
        if result["status"] == "ok":
            result.update(_latencies(model, data, tcfg, objectives))
            trial.set_user_attr("heatmaps", [m.to_dict() for m in heatmap.connection_strengths(model)])
        for key in METRICS:
            trial.set_user_attr(key, result[key])
        for key in ("latency_batch1_ms", "latency_batch_ms"):
            if key in result:
                trial.set_user_attr(key, result[key])
        trial.set_user_attr("reason", result["reason"])
        trial.set_user_attr("history", result["history"])
        trial.set_user_attr("trial_seconds", time.perf_counter() - start)
        trial.set_user_attr("status", result["status"])
        if result["status"] != "ok":
            return TrialState.FAIL, None
        return TrialState.COMPLETE, [result[o] for o in objectives]
    except optuna.exceptions.UpdateFinishedTrialError:
        raise
    except Exception as e:  # noqa: BLE001 - a failing trial never ends the study
        trial.set_user_attr("status", "error")
        trial.set_user_attr("reason", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:500])
        return TrialState.FAIL, None


def _latencies(model, data: PreparedData, tcfg: TrainConfig, objectives: list[str]) -> dict[str, float]:
    """Inference latency on the trial's device, measured only when an objective asks for it."""
    out = {}
    device = data.train.device
    channels_last = tcfg.on(device).channels_last
    for key, batch in (("latency_batch1_ms", 1), ("latency_batch_ms", LATENCY_BATCH)):
        if key in objectives:
            out[key] = 1000 * inference_latency(model, data.image_size, batch_size=batch, in_channels=data.in_channels,
                                                device=device, channels_last=channels_last)
    return out


def _violation(params: int, macs: int, cfg: DictConfig) -> str:
    if cfg.max_params is not None and params > cfg.max_params:
        return f"{params:,} parameters > max_params {cfg.max_params:,}"
    if cfg.max_macs is not None and macs > cfg.max_macs:
        return f"{macs:,} multiply-adds > max_macs {cfg.max_macs:,}"
    return ""


# ---- outputs ---------------------------------------------------------------------------


def pareto_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.best_trials if any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)) else []


def trial_row(t: optuna.trial.FrozenTrial, retried: dict[int, int] | None = None) -> dict[str, Any]:
    a = t.user_attrs
    row = {"trial": t.number, "state": t.state.name, "status": status_of(t), "reason": reason_of(t, retried or {}),
           "genotype_id": a.get("genotype_id", ""), "name": a.get("genotype_name", ""),
           "baseline": a.get("baseline", ""), "pruned_from": a.get("pruned_from", ""), "worker": a.get("worker", "")}
    row.update({k: a.get(k, "") for k in (*METRICS, "latency_batch1_ms", "latency_batch_ms")})
    row.update({f"param:{k}": v for k, v in sorted(t.params.items())})
    return row


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    tmp = path.with_suffix(f".tmp{os.getpid()}")  # workers on one machine write the same files
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def write_outputs(study: optuna.Study, out_dir: Path, objectives: list[str],
                  logger: NullLogger | None = None) -> list[float]:
    """Rewritten after every trial: trials.csv; pareto.csv and pareto/<trial>-<id>.yaml;
    pareto.png and pareto_{params,macs}.html; hypervolume.csv/.png; the W&B study run.
    Returns the hypervolume history."""
    trials = study.get_trials(deepcopy=False)
    reruns = retries(trials)
    write_csv(out_dir / "trials.csv", [trial_row(t, reruns) for t in trials])
    front = pareto_trials(study)
    complete = [trial_row(t) for t in trials if t.state == TrialState.COMPLETE]
    history = pareto.hypervolume_history(complete, objectives)
    if complete:
        pareto.plot(complete, {t.number for t in front}, out_dir)
        write_csv(out_dir / "hypervolume.csv", [{"trial": r["trial"], "hypervolume": h} for r, h in zip(complete, history)])
        pareto.plot_hypervolume(history, [r["trial"] for r in complete], out_dir)
    write_csv(out_dir / "pareto.csv", [trial_row(t) for t in front])
    pareto_dir = out_dir / "pareto"
    pareto_dir.mkdir(exist_ok=True)
    keep = set()
    for t in front:
        path = pareto_dir / f"trial{t.number:04d}-{t.user_attrs['genotype_id']}.yaml"
        keep.add(path.name)
        if not path.exists():
            Genotype.from_dict(t.user_attrs["genotype"]).save(path)
    for old in pareto_dir.glob("*.yaml"):
        if old.name not in keep:
            old.unlink(missing_ok=True)  # no longer on the front (another worker may have removed it)
    if logger is not None and complete:
        logger.study(complete, {t.number for t in front}, out_dir)
    return history


def summary(study: optuna.Study, objectives: list[str], out_dir: Path, history: list[float]) -> dict[str, Any]:
    trials = counted(study.get_trials(deepcopy=False))
    status = [t.user_attrs.get("status") for t in trials]
    return {
        "study_name": study.study_name,
        "n_complete": sum(t.state == TrialState.COMPLETE for t in trials),
        "n_failed": sum(t.state == TrialState.FAIL for t in trials),
        "n_infeasible": status.count("infeasible"),
        "n_duplicate": status.count("duplicate"),
        "n_interrupted": sum(interrupted(t) for t in study.get_trials(deepcopy=False)),
        "objectives": objectives,
        "pareto": [{"trial": t.number, "name": t.user_attrs.get("genotype_name"),
                    **{o: _plain(o, v) for o, v in zip(objectives, t.values)}} for t in pareto_trials(study)],
        "hypervolume": history[-1] if history else 0.0,
        "out_dir": str(out_dir),
    }


def _trial_result(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    keys = (*METRICS, "status", "reason", "history", "genotype_id")
    return {"genotype": t.user_attrs.get("genotype_name", ""), **{k: t.user_attrs.get(k) for k in keys}}


def _loggable(cfg: DictConfig) -> dict[str, Any]:
    """The run's configuration for the W&B study run, without the storage URL (it may hold a password)."""
    config = OmegaConf.to_container(cfg, resolve=True)
    config.pop("storage", None)
    return config


def _plain(objective: str, value: float) -> float | int:
    return int(value) if objective in ("params", "macs", "peak_memory_bytes") else value


# ---- the command -----------------------------------------------------------------------


def run_search(cfg: DictConfig, out_dir: Path | None = None, log=print,
               stop_requested: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """One worker of the search, without Hydra: testable with a composed config.

    Any number of workers may run this on the same study at once; each stops when the
    study has ``n_trials`` counted trials, after waiting for (and, if their workers
    die, taking over) the trials still running elsewhere.
    """
    check_settings(cfg)
    check_logger(cfg.logger)
    objectives = check_objectives(list(cfg.objectives))
    space = search_spaces.get(cfg.search_space.name)
    space.validate(cfg.search_space)
    tcfg = train_config(cfg.train)
    device = resolve_device(cfg.device)
    data_cfg = data_config(cfg.data)
    out_dir = out_dir or Path("runs") / cfg.study_name
    out_dir.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(cfg.storage)
    sampler = make_sampler(cfg.sampler.name, cfg.seed)
    study = open_study(storage, cfg.study_name, {o: OBJECTIVES[o] for o in objectives}, sampler)
    existing = len(study.get_trials(deepcopy=False))
    study.sampler = make_sampler(cfg.sampler.name, worker_seed(cfg.seed, cfg.worker, existing))
    if cfg.enqueue_baselines and cfg.worker == 0:
        names = enqueue_baselines(study, space, cfg.search_space)
        if names:
            log(f"baselines first: {', '.join(names)}")
    done = len(counted(study.get_trials(deepcopy=False)))
    log(f"study {cfg.study_name!r} in {describe(cfg.storage)}: {done} of n_trials={cfg.n_trials} done; "
        f"this is worker {cfg.worker} ({WORKER})"
        + (f", CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}" if cfg.gpu is not None else ""))
    if done >= cfg.n_trials:
        log("nothing to do")
    else:
        if device.type != "cuda":
            log("no GPU: trials train on the CPU; use train=smoke and a small data.train_size")
        data = prepare(data_cfg, device, channels_last=tcfg.on(device).channels_last)
        check_feasible(space, cfg, data)
        logger = make_logger(cfg.logger, cfg.study_name, out_dir, _loggable(cfg))
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.n_trials, desc="trials", file=sys.stderr, disable=not sys.stderr.isatty())
        try:
            _work(study, storage, space, data, tcfg, cfg, objectives, out_dir, logger, log, stop_requested, bar)
        finally:
            bar.close()
            logger.close()
    result = summary(study, objectives, out_dir, write_outputs(study, out_dir, objectives))
    if result["n_complete"] == 0:
        log("every trial failed or was ruled out: see the reasons in trials.csv")
    for p in result["pareto"]:
        log("pareto  trial {trial:4d}  {name:32s} ".format(**p) +
            "  ".join(f"{o}={p[o]:.4g}" for o in objectives))
    return result


def _work(study: optuna.Study, storage, space, data: PreparedData, tcfg: TrainConfig, cfg: DictConfig,
          objectives: list[str], out_dir: Path, logger: NullLogger, log, stop_requested: Callable[[], bool],
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
        t = run_trial(study, storage, space, data, tcfg, cfg, objectives, log)
        if t is None:
            continue
        if "history" in t.user_attrs:  # it was trained
            logger.trial(t.number, t.user_attrs["genotype"], t.params, _trial_result(t), _heatmap_png(t, out_dir))
        write_outputs(study, out_dir, objectives, logger)
        if cfg.prune_threshold is not None and t.state == TrialState.COMPLETE:
            enqueue_pruned_children(study, cfg.prune_threshold, log)
        seconds = time.perf_counter() - start
        timing = f" [{seconds:.1f} s, training {t.user_attrs['wall_seconds']:.1f} s]" \
            if "wall_seconds" in t.user_attrs else ""
        status = t.user_attrs.get("status", "?")
        log(f"trial {t.number}: {t.user_attrs.get('genotype_name', '?')} {status}"
            + (f" {dict(zip(objectives, t.values))}" if t.values else f" ({t.user_attrs.get('reason', '')})")
            + timing + f" — {len(counted(study.get_trials(deepcopy=False)))}/{cfg.n_trials}")
        left = cfg.n_trials - done - 1
        if first and left > 0 and status == "ok":
            log(f"estimate: ~{seconds * left / 60:.0f} min of this worker's time for the remaining {left} "
                f"trials at {seconds:.0f} s per trial")
            first = False


def enqueue_pruned_children(study: optuna.Study, threshold: float, log) -> None:
    """Queue, once per Pareto trial, its genotype without the connections weaker than
    ``threshold`` (:func:`nas.prune.prune`), trained with the parent's parameters recorded."""
    trials = study.get_trials(deepcopy=False)
    done = {t.user_attrs["pruned_from"] for t in trials if "pruned_from" in t.user_attrs}
    for parent in pareto_trials(study):
        if parent.number in done or "heatmaps" not in parent.user_attrs:
            continue
        genotype = Genotype.from_dict(parent.user_attrs["genotype"])
        child = prune(genotype, [heatmap.Heatmap.from_dict(d) for d in parent.user_attrs["heatmaps"]], threshold)
        if child is genotype:
            continue
        study.enqueue_trial(parent.params, user_attrs={"pruned_from": parent.number, "child_genotype": child.to_dict()})
        log(f"trial {parent.number}: its pruned child {child.name} is queued "
            f"({sum(b.connections() for b in genotype.blocks)} → {sum(b.connections() for b in child.blocks)} "
            "connections)")


def _heatmap_png(t: optuna.trial.FrozenTrial, out_dir: Path) -> Path | None:
    """runs/<study>/heatmaps/trial<N>-<id>.png from the connection strengths the trial stored."""
    if "heatmaps" not in t.user_attrs:
        return None
    path = out_dir / "heatmaps" / f"trial{t.number:04d}-{t.user_attrs['genotype_id']}.png"
    maps = [heatmap.Heatmap.from_dict(d) for d in t.user_attrs["heatmaps"]]
    return heatmap.plot(maps, path, f"trial {t.number}: {t.user_attrs['genotype_name']}")


def _fail_stale(study: optuna.Study, storage: optuna.storages.BaseStorage, grace_period: int, log) -> None:
    """Fail the trials whose workers stopped beating; the retry callback queues them again."""
    before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    if not before:
        return
    fail_stale_trials(study, storage, grace_period)
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if t.number in before and interrupted(t):
            log(f"trial {t.number}: its worker ({t.user_attrs.get('worker', '?')}) stopped; "
                "failed and queued again")


def check_feasible(space, cfg: DictConfig, data: PreparedData) -> None:
    """Refuse constraints that even the space's smallest genotype breaks."""
    for key, metric in (("max_params", "params"), ("max_macs", "macs")):
        limit = cfg[key]
        if limit is None:
            continue
        genotype, value = search_spaces.smallest(space, cfg.search_space, metric, data.num_classes,
                                                 data.in_channels, data.image_size)
        if value > limit:
            raise ValueError(f"{key}={limit:,}: no genotype in search_space={cfg.search_space.name} satisfies it — "
                             f"the smallest found, {genotype.name}, has {value:,} {metric}; raise {key} or "
                             "widen the space's lower bounds")


@hydra.main(config_path="conf", config_name="search", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    if cfg.gpu is not None:  # before anything touches CUDA
        os.environ["CUDA_VISIBLE_DEVICES"] = str(cfg.gpu)
    with sigterm_as_interrupt() as stop:
        try:
            result = run_search(cfg, log=lambda m: print(m, file=sys.stderr), stop_requested=lambda: stop.requested)
        except KeyboardInterrupt:
            print("stopped: a trial left unfinished is queued again; run the same command to continue",
                  file=sys.stderr)
            sys.exit(130)
        except ValueError as e:  # DataError, GenotypeError, StorageError: bad input, said in one line
            fail(e)
    print(json.dumps(result))


def main() -> None:
    run_app(_hydra_main, "search", "python -m nas.search")


if __name__ == "__main__":
    main()
