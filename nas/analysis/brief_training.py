"""The proxy check: does brief training rank architectures as longer training does?

Draws distinct genotypes from a space at random, trains each with the brief budget
and with ``factor`` times its epochs (same seed, data and split), and measures
Spearman's ρ and Kendall's τ between the two accuracy rankings. It also ranks the
long runs after each of their epochs against their end (:func:`per_epoch`): what a
scheduler's rung at that epoch sees of the full budget's order (``scheduler=asha``
decides inside runs scheduled for the full budget, exactly like these), for any training
protocol: with ``train.protocol=rung_cycles`` the long runs end a cycle at ``train.cycle_ends``
(by default asha's rungs), and the brief run is one cycle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from scipy import stats

import search_spaces
from nas.files import strict_json
from nas.genotype import Genotype
from nas.outputs.study_files import write_csv
from nas.section import Section
from nas.training.config import TrainConfig
from nas.training.data import DataConfig, prepare
from nas.training.metrics import count_params, meta_model
from nas.training.run import resolve_device, train_genotype


def rank_correlations(brief: list[float], long: list[float]) -> dict[str, float]:
    """Spearman's ρ and Kendall's τ-b (ties allowed) between two scores of the same items."""
    if len(brief) != len(long) or len(brief) < 3:
        raise ValueError(f"need the same ≥ 3 items in both rankings, got {len(brief)} and {len(long)}")
    rho = stats.spearmanr(brief, long).statistic
    tau = stats.kendalltau(brief, long).statistic
    return {"spearman": float(rho), "kendall": float(tau)}


def top_kept(rung: list[float], end: list[float], share: float = 1 / 3) -> float:
    """The fraction of the ``share`` best items by ``end`` that are also among the ``share`` best by
    ``rung``: what successive halving keeps of the eventual winners when it cuts at a rung.
    Ties go to the earlier item, as a rung decision gives them."""
    k = max(1, round(share * len(end)))
    best = lambda scores: set(sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k])  # noqa: E731
    return len(best(rung) & best(end)) / k


def per_epoch(histories: list[list[dict[str, Any]]], epochs: int) -> list[dict[str, float]]:
    """For each epoch before the last of ``epochs``, the rank correlations of the validation accuracy
    then with the accuracy at the end, and the share of the end's top third that the epoch's top
    third holds, over the runs that trained every epoch (none with fewer than 3 of them)."""
    full = [h for h in histories if len(h) == epochs]
    if len(full) < 3:
        return []
    final = [h[-1]["val_accuracy"] for h in full]
    return [{"epoch": e, **rank_correlations(at := [h[e - 1]["val_accuracy"] for h in full], final),
             "top_third_kept": top_kept(at, final)} for e in range(1, epochs)]


def sample_genotypes(space, space_cfg, n: int, seed: int, num_classes: int, in_channels: int,
                     max_params: int | None = None, max_draws: int = 1000) -> list[Genotype]:
    """``n`` distinct genotypes drawn uniformly from the space's parameters."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    found: dict[str, Genotype] = {}
    for _ in range(max_draws):
        trial = study.ask()
        genotype = space.suggest(trial, space_cfg)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        if genotype.id in found:
            continue
        if max_params is not None and count_params(meta_model(genotype, num_classes, in_channels)) > max_params:
            continue
        found[genotype.id] = genotype
        if len(found) == n:
            return list(found.values())
    raise ValueError(f"only {len(found)} distinct genotypes within max_params after {max_draws} draws; "
                     "lower n_genotypes or widen the space")


@dataclass(frozen=True)
class ProxyCheckSettings:
    """What ``python -m nas.proxy_check`` was asked to do (``nas.settings.parse_proxy_check``): ``brief``
    and ``long`` are the two budgets, ``long`` ``factor`` times as many epochs, its cycles (rung_cycles)
    ending at ``train.cycle_ends`` and the brief run's one cycle."""

    n_genotypes: int
    seed: int
    device: str
    max_params: int | None
    search_space: Section
    data: DataConfig
    brief: TrainConfig
    long: TrainConfig


def proxy_check(settings: ProxyCheckSettings, out_dir: Path, log=print) -> dict[str, Any]:
    """The whole check, without Hydra."""
    cfg, brief_cfg, long_cfg = settings, settings.brief, settings.long
    space = search_spaces.get(cfg.search_space.name)
    device = resolve_device(cfg.device)
    data = prepare(cfg.data, device, channels_last=brief_cfg.on(device).channels_last)
    genotypes = sample_genotypes(space, cfg.search_space, cfg.n_genotypes, cfg.seed, data.num_classes,
                                 data.in_channels, cfg.max_params)
    rows: list[dict[str, Any]] = []
    histories: list[list[dict[str, Any]]] = []
    for i, genotype in enumerate(genotypes):
        row: dict[str, Any] = {"genotype": genotype.name, "genotype_id": genotype.id}
        for label, tcfg in (("brief", brief_cfg), ("long", long_cfg)):
            _, result = train_genotype(genotype, data, tcfg, seed=cfg.seed + i)
            row.update({f"{label}_val_accuracy": result["val_accuracy"], f"{label}_status": result["status"],
                        f"{label}_epochs": tcfg.epochs, f"{label}_seconds": result["train_seconds"]})
            row["params"] = result["params"]
        histories.append(result["history"])  # the long run's
        row.update({f"long_epoch{h['epoch']}_val_accuracy": h["val_accuracy"] for h in result["history"]})
        log(f"{i + 1}/{len(genotypes)} {genotype.name}: brief {row['brief_val_accuracy']:.4f} "
            f"({brief_cfg.epochs} epochs), long {row['long_val_accuracy']:.4f} ({long_cfg.epochs} epochs)")
        rows.append(row)
    correlations = rank_correlations([r["brief_val_accuracy"] for r in rows], [r["long_val_accuracy"] for r in rows])
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(out_dir / "proxy_check.csv", rows)
    _plot(rows, correlations, brief_cfg.epochs, long_cfg.epochs, out_dir / "proxy_check.png")
    result = {"n_genotypes": len(rows), "brief_epochs": brief_cfg.epochs, "long_epochs": long_cfg.epochs,
              **correlations, "protocol": long_cfg.protocol,
              "cycle_ends": long_cfg.cycles() if long_cfg.protocol == "rung_cycles" else [],
              "per_epoch": per_epoch(histories, long_cfg.epochs), "out_dir": str(out_dir)}
    (out_dir / "result.json").write_text(json.dumps(strict_json({**result, "genotypes": rows}), indent=2,
                                                    allow_nan=False))
    return result


def _plot(rows: list[dict[str, Any]], corr: dict[str, float], brief_epochs: int, long_epochs: int, path: Path) -> None:
    import matplotlib.pyplot as plt

    brief = np.array([r["brief_val_accuracy"] for r in rows])
    long = np.array([r["long_val_accuracy"] for r in rows])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    left.scatter(brief, long)
    for r, x, y in zip(rows, brief, long):
        left.annotate(r["genotype"], (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    left.set_xlabel(f"validation accuracy, {brief_epochs} epoch(s)")
    left.set_ylabel(f"validation accuracy, {long_epochs} epochs")
    rank_brief = stats.rankdata(-brief)
    rank_long = stats.rankdata(-long)
    right.scatter(rank_brief, rank_long)
    right.plot([1, len(rows)], [1, len(rows)], color="grey", linewidth=0.8)
    right.set_xlabel("rank, brief budget (1 = best)")
    right.set_ylabel("rank, long budget")
    fig.suptitle(f"Spearman ρ = {corr['spearman']:.3f}, Kendall τ = {corr['kendall']:.3f} ({len(rows)} genotypes)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
