"""``python -m nas.search``: a multi-objective search over densely connected CNNs.

    python -m nas.search search_space=dense_connectivity n_trials=200

Optuna runs in-process. Every trial turns its parameters into a genotype, is
checked against the constraints *before* training (infeasible genotypes are never
trained), skips genotypes the study has already trained, trains on the data
prepared once for the whole study, and stores the genotype, every metric and any
failure reason as trial attributes. ``n_trials`` is the study's total: running the
same command again resumes, re-running trials a previous process left unfinished.
Results are written to ``runs/<study_name>/`` after every trial; the last output
line is one JSON object.
"""

from __future__ import annotations

import csv
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

import search_spaces
from nas import pareto
from nas.data import DataError, PreparedData, prepare
from nas.genotype import Genotype, GenotypeError
from nas.metrics import inference_latency
from nas.presets import PRESETS
from nas.train import build_and_count, data_config, resolve_device, train_config, train_genotype
from nas.trainer import TrainConfig
from nas.wandb_logger import NullLogger, make_logger

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


def open_study(cfg: DictConfig, objectives: list[str]) -> optuna.Study:
    url = cfg.storage.url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    directions = [OBJECTIVES[o] for o in objectives]
    study = optuna.create_study(storage=url, study_name=cfg.study_name, load_if_exists=True, directions=directions,
                                sampler=make_sampler(cfg.sampler.name, cfg.seed))
    stored = study.user_attrs.get("objectives")
    if stored is None:
        study.set_user_attr("objectives", objectives)
    elif stored != objectives:
        raise ValueError(f"study {cfg.study_name!r} exists with objectives {stored}, not {objectives}; "
                         "use those objectives or another study_name")
    return study


def recover_interrupted(study: optuna.Study) -> int:
    """Mark trials a killed process left RUNNING as failed and queue their parameters again."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in stale:
        study._storage.set_trial_user_attr(t._trial_id, "status", "interrupted")
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        study.enqueue_trial(t.params, user_attrs={k: v for k, v in t.user_attrs.items() if k == "baseline"})
    return len(stale)


def counted(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Trials that count towards ``n_trials``: finished, and not merely interrupted."""
    return [t for t in study.get_trials(deepcopy=False)
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
            or (t.state == TrialState.FAIL and t.user_attrs.get("status") != "interrupted")]


def enqueue_baselines(study: optuna.Study, space, space_cfg) -> list[str]:
    if study.user_attrs.get("baselines_enqueued"):
        return []
    names = []
    for name, params in search_spaces.baseline_params(space, space_cfg, PRESETS).items():
        study.enqueue_trial(params, user_attrs={"baseline": name})
        names.append(name)
    study.set_user_attr("baselines_enqueued", names)
    return names


def run_trial(study: optuna.Study, space, space_cfg, data: PreparedData, tcfg: TrainConfig,
              cfg: DictConfig, objectives: list[str], trained: dict[str, int]) -> optuna.trial.FrozenTrial:
    trial = study.ask()
    start = time.perf_counter()
    try:
        genotype = space.suggest(trial, space_cfg)
        trial.set_user_attr("genotype", genotype.to_dict())
        trial.set_user_attr("genotype_id", genotype.id)
        trial.set_user_attr("genotype_name", genotype.name)
        if genotype.id in trained:
            trial.set_user_attr("status", "duplicate")
            trial.set_user_attr("reason", f"same genotype as trial {trained[genotype.id]}; not trained again")
            return study.tell(trial, state=TrialState.PRUNED)
        seed = cfg.seed + trial.number
        built = build_and_count(genotype, data, seed=seed, memory_efficient=tcfg.memory_efficient)
        _, params, macs = built
        trial.set_user_attr("params", params)
        trial.set_user_attr("macs", macs)
        reason = _violation(params, macs, cfg)
        if reason:
            trial.set_user_attr("status", "infeasible")
            trial.set_user_attr("reason", reason)
            return study.tell(trial, state=TrialState.PRUNED)
        model, result = train_genotype(genotype, data, tcfg, seed=seed, built=built)
        trained[genotype.id] = trial.number
        if result["status"] == "ok":
            result.update(_latencies(model, data, tcfg, objectives))
        for key in METRICS:
            trial.set_user_attr(key, result[key])
        for key in ("latency_batch1_ms", "latency_batch_ms"):
            if key in result:
                trial.set_user_attr(key, result[key])
        trial.set_user_attr("status", result["status"])
        trial.set_user_attr("reason", result["reason"])
        trial.set_user_attr("history", result["history"])
        trial.set_user_attr("trial_seconds", time.perf_counter() - start)
        if result["status"] != "ok":
            return study.tell(trial, state=TrialState.FAIL)
        return study.tell(trial, [result[o] for o in objectives])
    except Exception as e:  # noqa: BLE001 - a failing trial never ends the study
        trial.set_user_attr("status", "error")
        trial.set_user_attr("reason", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:500])
        return study.tell(trial, state=TrialState.FAIL)


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


def trial_row(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    a = t.user_attrs
    row = {"trial": t.number, "state": t.state.name, "status": a.get("status", ""), "reason": a.get("reason", ""),
           "genotype_id": a.get("genotype_id", ""), "name": a.get("genotype_name", ""),
           "baseline": a.get("baseline", "")}
    row.update({k: a.get(k, "") for k in (*METRICS, "latency_batch1_ms", "latency_batch_ms")})
    row.update({f"param:{k}": v for k, v in sorted(t.params.items())})
    return row


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    tmp = path.with_suffix(".tmp")
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
    write_csv(out_dir / "trials.csv", [trial_row(t) for t in trials])
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
            old.unlink()  # no longer on the front
    if logger is not None and complete:
        logger.study(complete, {t.number for t in front}, out_dir)
    return history


def summary(study: optuna.Study, objectives: list[str], out_dir: Path, history: list[float]) -> dict[str, Any]:
    trials = counted(study)
    status = [t.user_attrs.get("status") for t in trials]
    return {
        "study_name": study.study_name,
        "n_complete": sum(t.state == TrialState.COMPLETE for t in trials),
        "n_failed": sum(t.state == TrialState.FAIL for t in trials),
        "n_infeasible": status.count("infeasible"),
        "n_duplicate": status.count("duplicate"),
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


def run_search(cfg: DictConfig, out_dir: Path | None = None, log=print) -> dict[str, Any]:
    """The whole search, without Hydra: testable with a composed config."""
    if cfg.n_trials < 1:
        raise ValueError(f"n_trials={cfg.n_trials}: must be ≥ 1 (the study's total number of trials)")
    objectives = check_objectives(list(cfg.objectives))
    space = search_spaces.get(cfg.search_space.name)
    space.validate(cfg.search_space)
    tcfg = train_config(cfg.train)
    device = resolve_device(cfg.device)
    out_dir = out_dir or Path("runs") / cfg.study_name
    out_dir.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(cfg, objectives)

    recovered = recover_interrupted(study)
    if recovered:
        log(f"resuming: {recovered} trial(s) interrupted by an earlier run will run again")
    if cfg.enqueue_baselines:
        names = enqueue_baselines(study, space, cfg.search_space)
        if names:
            log(f"baselines first: {', '.join(names)}")
    remaining = cfg.n_trials - len(counted(study))
    if remaining <= 0:
        log(f"study {cfg.study_name!r} already has {len(counted(study))} of n_trials={cfg.n_trials} trials; nothing to do")
    else:
        if device.type != "cuda":
            log("no GPU: trials train on the CPU; use train=smoke and a small data.train_size")
        data = prepare(data_config(cfg.data), device, channels_last=tcfg.on(device).channels_last)
        trained = {t.user_attrs["genotype_id"]: t.number for t in study.get_trials(deepcopy=False)
                   if t.state in (TrialState.COMPLETE, TrialState.FAIL) and "genotype_id" in t.user_attrs
                   and t.user_attrs.get("status") not in ("interrupted", "error")}
        from tqdm.auto import tqdm

        logger = make_logger(cfg.logger, cfg.study_name, out_dir, _loggable(cfg))
        bar = tqdm(total=cfg.n_trials, initial=cfg.n_trials - remaining, desc="trials", file=sys.stderr,
                   disable=not sys.stderr.isatty())
        try:
            for i in range(remaining):
                start = time.perf_counter()
                t = run_trial(study, space, cfg.search_space, data, tcfg, cfg, objectives, trained)
                if "history" in t.user_attrs:  # it was trained
                    logger.trial(t.number, t.user_attrs["genotype"], t.params, _trial_result(t))
                write_outputs(study, out_dir, objectives, logger)
                bar.update(1)
                status = t.user_attrs.get("status", "?")
                seconds = time.perf_counter() - start
                timing = f" [{seconds:.1f} s, training {t.user_attrs['wall_seconds']:.1f} s]" \
                    if "wall_seconds" in t.user_attrs else ""
                log(f"trial {t.number}: {t.user_attrs.get('genotype_name', '?')} {status}"
                    + (f" {dict(zip(objectives, t.values))}" if t.values else f" ({t.user_attrs.get('reason', '')})")
                    + timing)
                if i == 0 and remaining > 1 and status == "ok":
                    log(f"estimate: ~{seconds * (remaining - 1) / 60:.0f} min for the remaining {remaining - 1} "
                        f"trials at {seconds:.0f} s per trial")
        finally:
            bar.close()
            logger.close()
    result = summary(study, objectives, out_dir, write_outputs(study, out_dir, objectives))
    if result["n_complete"] == 0 and len(counted(study)) > 0:
        log("every trial failed or was ruled out: see the reasons in trials.csv")
    for p in result["pareto"]:
        log("pareto  trial {trial:4d}  {name:32s} ".format(**p) +
            "  ".join(f"{o}={p[o]:.4g}" for o in objectives))
    return result


@hydra.main(config_path="conf", config_name="search", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        result = run_search(cfg, log=lambda m: print(m, file=sys.stderr))
    except (DataError, GenotypeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
