"""Which training protocol makes a rung's accuracy tell how a trial ends?

Trains the same genotypes, drawn at random from the multi-fidelity benchmark's space of
small nets, under every protocol of ``train.protocol`` for the full budget (``--epochs``),
on CIFAR-10 (``--train-size`` / ``--val-size`` images of the training split, down-sampled
to ``--image-size`` pixels), and reports for each protocol and rung (``--rungs``, where
``rung_cycles`` ends its cycles):

- Spearman ρ and Kendall τ of the rung's validation accuracy against the same runs' end, and
  ρ's gain over ``onecycle``'s with a 95% interval (a paired bootstrap over the genotypes);
- the share of the end's top third that the rung's top third keeps (what ASHA acts on);
- ρ of the rung against the end of ``onecycle`` (the reference the search used so far);
- the noise ceiling: ρ between the final accuracies of two seeds of the same genotypes;
- the final accuracy against ``onecycle``'s on the same genotypes: the mean paired
  difference with its 95% t-interval.

Every run is appended to ``--results`` (JSON lines) with its settings as it ends, and runs
already there with the same settings are not trained again: stop it, start it again, and it goes on. ``--shard i/n`` splits the runs
between processes (one per core) that append to the same file. The first pass trains
every genotype under every protocol with seed 0; the second a second seed (of the protocols
named by ``--ceiling``, by default all). ``ema`` is today's rule (the half-life follows the learning
rate); ``ema_fixed`` the fixed half-life it had before, and the rule of every ``ema`` run recorded
without ``ema_follows_lr``.

    python benchmarks/training_protocols.py                                  # 24 genotypes, CPU, about 3 CPU-hours
    python benchmarks/training_protocols.py --shard 0/2 & python benchmarks/training_protocols.py --shard 1/2
    python benchmarks/training_protocols.py --report                         # the tables from what has run
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf
from scipy import stats

import search_spaces
from nas.analysis.brief_training import rank_correlations, sample_genotypes, top_kept
from nas.training.config import TrainConfig
from nas.training.data import DataConfig, prepare
from nas.training.environment import code_commit, cpu_model
from nas.training.protocols import PROTOCOLS as REGISTERED
from nas.training.run import train_genotype

sys.path.insert(0, str(Path(__file__).resolve().parent))
from multifidelity import SPACE, cifar_options  # noqa: E402 - the same data, budget and space
from table_check import shard  # noqa: E402 - one reading of --shard

REPO = Path(__file__).resolve().parents[1]
REFERENCE = "onecycle"
PROTOCOLS = ["onecycle", "rung_cycles", "schedule_free", "ema"]  # compared by default
EMA_FIXED = "ema_fixed"  # ema with train.ema_follows_lr=false: the fixed half-life it had before issue 28
CHOICES = [*REGISTERED, EMA_FIXED]


def space_config() -> Any:
    """The multi-fidelity benchmark's space of small nets."""
    defaults = OmegaConf.load(REPO / "conf" / "search_space" / "dense_connectivity.yaml")
    return OmegaConf.merge(defaults, OmegaConf.from_dotlist(SPACE).search_space)


def runs(args: argparse.Namespace) -> list[tuple[int, int, str]]:
    """(seed index, genotype index, protocol) in the order they are trained: seed 0 first."""
    second = [p for p in args.protocols if p in args.ceiling]
    return [(0, g, p) for g in range(args.genotypes) for p in args.protocols] + \
        [(1, g, p) for g in range(args.genotypes) for p in second]


def train_config(args: argparse.Namespace, protocol: str) -> TrainConfig:
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      protocol="ema" if protocol == EMA_FIXED else protocol,
                      ema_follows_lr=protocol != EMA_FIXED, stop_at_chance=False, progress=False)
    return cfg.for_rungs(args.rungs)


def protocol_of(row: dict) -> str:
    """A run's protocol; an ``ema`` run from before the half-life followed the learning rate (it recorded
    no ``ema_follows_lr``) is :data:`EMA_FIXED`."""
    return EMA_FIXED if row["protocol"] == "ema" and not row.get("ema_follows_lr", False) else row["protocol"]


def settings(args: argparse.Namespace) -> dict[str, str]:
    """What a run's result depends on besides its genotype, protocol and seed."""
    keys = ("train_size", "val_size", "image_size", "epochs", "rungs", "batch_size", "lr", "device")
    return {k: str(getattr(args, k)) for k in keys}


def done(path: Path, args: argparse.Namespace) -> dict[tuple[int, str, str], dict]:
    """The runs in ``path`` made with these settings (others are neither reused nor reported)."""
    rows: dict[tuple[int, str, str], dict] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if r.get("settings") == settings(args):
                    rows[(r["seed_index"], r["genotype_id"], protocol_of(r))] = r
    return rows


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    data = prepare(DataConfig(name="folder", root=str(args.data_root), train_size=args.train_size,
                              val_size=args.val_size, image_size=args.image_size,
                              crop_padding=args.image_size // 8), device, channels_last=True)
    genotypes = sample_genotypes(search_spaces.get("dense_connectivity"), space_config(), args.genotypes, 0,
                                 data.num_classes, data.in_channels)
    index, count = shard(args.shard)
    todo = [run for run in runs(args) if run[1] % count == index]  # by genotype: each shard gets every protocol
    finished = done(args.results, args)
    for n, (s, g, protocol) in enumerate(todo):
        genotype = genotypes[g]
        if (s, genotype.id, protocol) in finished:
            continue
        start = time.perf_counter()
        _, result = train_genotype(genotype, data, train_config(args, protocol), seed=1000 * s + g)
        row = {"settings": settings(args), "seed_index": s, "genotype_index": g, "genotype_id": genotype.id,
               "genotype": genotype.name,
               "protocol": "ema" if protocol == EMA_FIXED else protocol,
               **({"ema_follows_lr": protocol == "ema"} if protocol in ("ema", EMA_FIXED) else {}),
               "params": result["params"], "status": result["status"],
               "val_accuracy": [h["val_accuracy"] for h in result["history"]],
               "lr": [h["lr"] for h in result["history"]], "seconds": time.perf_counter() - start,
               "commit": code_commit() or "unknown", "cpu": cpu_model()}
        with open(args.results, "a") as f:  # one write per line: shards append to one file
            f.write(json.dumps(row) + "\n")
        print(f"[{index}/{count}] {n + 1}/{len(todo)} seed {s} {protocol:13s} {genotype.name}: "
              f"{' '.join(f'{a:.3f}' for a in row['val_accuracy'])} ({row['seconds']:.0f} s)", flush=True)


def interval(diffs: list[float]) -> tuple[float, float, float]:
    """Mean and 95% t-interval."""
    mean = statistics.mean(diffs)
    half = stats.t.ppf(0.975, len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs))
    return mean, mean - half, mean + half


def rho_difference(a: np.ndarray, b: np.ndarray, rung: int, resamples: int = 2000) -> tuple[float, float, float]:
    """Spearman ρ of the rung against the end under protocol ``a`` minus under ``b`` (rows: the same
    genotypes, columns: epochs), with a 95% interval from a paired bootstrap over the genotypes."""
    def rho(curves: np.ndarray, rows: np.ndarray) -> float:
        return stats.spearmanr(curves[rows, rung - 1], curves[rows, -1]).statistic

    every = np.arange(len(a))
    rng = np.random.default_rng(0)
    draws = [rho(a, rows) - rho(b, rows) for rows in (rng.integers(0, len(a), len(a)) for _ in range(resamples))]
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    return rho(a, every) - rho(b, every), float(low), float(high)


def report(args: argparse.Namespace) -> list[str]:
    """The tables, as lines."""
    rows = done(args.results, args)
    by: dict[tuple[int, str], dict[str, list[float]]] = {}
    for (s, gid, protocol), r in rows.items():
        if r["status"] == "ok" and len(r["val_accuracy"]) == args.epochs:
            by.setdefault((s, protocol), {})[gid] = r["val_accuracy"]
    protocols = [p for p in args.protocols if (0, p) in by]
    common = set.intersection(*(set(by[(0, p)]) for p in protocols)) if protocols else set()
    ids = sorted(common)
    lines = [f"{len(ids)} genotypes trained under every protocol ({', '.join(protocols)}), {args.epochs} epochs, "
             f"rungs at {args.rungs}; {args.train_size} / {args.val_size} images at {args.image_size}×{args.image_size}"]
    if len(ids) < 3:
        return lines
    reference_end = [by[(0, REFERENCE)][g][-1] for g in ids] if REFERENCE in protocols else None
    curves = {p: np.array([by[(0, p)][g] for g in ids]) for p in protocols}
    lines += ["", f"{'protocol':14s} {'rung':>4s} {'ρ vs end':>9s} {'τ vs end':>9s} {'top ⅓ kept':>11s} "
                  f"{'ρ vs ' + REFERENCE + ' end':>18s} {'ρ − ' + REFERENCE + '’s (95% CI)':>28s}"]
    for p in protocols:
        end = [by[(0, p)][g][-1] for g in ids]
        for rung in args.rungs:
            at = [by[(0, p)][g][rung - 1] for g in ids]
            c = rank_correlations(at, end)
            ref = f"{rank_correlations(at, reference_end)['spearman']:18.3f}" if reference_end else ""
            gain = ""
            if reference_end and p != REFERENCE:
                mean, low, high = rho_difference(curves[p], curves[REFERENCE], rung)
                gain = f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]"
            lines.append(f"{p:14s} {rung:4d} {c['spearman']:9.3f} {c['kendall']:9.3f} {top_kept(at, end):11.2f} "
                         f"{ref} {gain:>28s}")
    for rung in args.rungs if len(curves) > 1 else []:  # the two that rank best here: told apart?
        rho = {p: rank_correlations(list(curves[p][:, rung - 1]), list(curves[p][:, -1]))["spearman"] for p in curves}
        first, second = sorted(rho, key=rho.get, reverse=True)[:2]
        mean, low, high = rho_difference(curves[first], curves[second], rung)
        lines.append(f"rung {rung}: {first} − {second}, ρ vs end: {mean:+.2f} [{low:+.2f}, {high:+.2f}]")
    lines += ["", f"{'protocol':14s} {'final accuracy':>15s} {'vs ' + REFERENCE + ' (mean, 95% CI)':>34s} "
                  f"{'seed-to-seed ρ of the end (n)':>31s}"]
    for p in protocols:
        end = [by[(0, p)][g][-1] for g in ids]
        diff = ""
        if reference_end and p != REFERENCE:
            mean, low, high = interval([a - b for a, b in zip(end, reference_end)])
            diff = f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]"
        second = [g for g in ids if g in by.get((1, p), {})]
        ceiling = ""
        if len(second) >= 3:
            rho = rank_correlations([by[(0, p)][g][-1] for g in second], [by[(1, p)][g][-1] for g in second])
            ceiling = f"{rho['spearman']:.3f} ({len(second)})"
        lines.append(f"{p:14s} {statistics.mean(end):15.4f} {diff:>34s} {ceiling:>31s}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cifar_options(parser, epochs=9)
    parser.add_argument("--rungs", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--genotypes", type=int, default=24)
    parser.add_argument("--protocols", nargs="+", default=PROTOCOLS, choices=CHOICES,
                        help=f"{EMA_FIXED}: ema with the fixed half-life it had before (train.ema_follows_lr=false)")
    parser.add_argument("--ceiling", nargs="*", default=None, choices=CHOICES, metavar="PROTOCOL",
                        help="the protocols whose runs a second seed repeats after the first pass (default: all; "
                             "none after a bare --ceiling)")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "protocols-cpu.jsonl")
    parser.add_argument("--shard", default="0/1", help="i/n: train the runs of every n-th genotype from the i-th")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--report", action="store_true", help="only print the tables from --results")
    args = parser.parse_args()
    if REFERENCE not in args.protocols:
        args.protocols.insert(0, REFERENCE)
    if args.ceiling is None:
        args.ceiling = list(args.protocols)
    if not args.report:
        if not (args.data_root / "train").is_dir():
            raise SystemExit(f"--data-root {args.data_root}: no train/ folder there; give the CIFAR-10 image folder")
        args.results.parent.mkdir(parents=True, exist_ok=True)
        train(args)
    print("\n".join(report(args)))


if __name__ == "__main__":
    sys.exit(main())
