"""Does judging on the weight average cost final accuracy at short budgets? ``ema`` against ``onecycle``.

Trains one genotype under each protocol (``--protocols``) for each budget (``--epochs``: a
separate one-cycle run per budget, as a search with that ``train.epochs`` would) and seed
(``--seeds``), through the product's unit of work, on CIFAR-10's training split at the tabular
benchmark's fidelity by default (8,000 / 2,000 images at 16×16, batch 128, lr 0.2, one thread).
Both protocols train the same weights (``ema`` only changes what is judged), so the paired
difference of their final accuracies is the average's cost or gain. ``--fixed-half-life``
runs ``ema`` as it was before its half-life followed the learning rate. Reports, per budget, each
protocol's mean final accuracy, the paired difference with its 95% t-interval, and the peak
memory each run measured. Runs are appended to ``--results`` and not trained again.

    python benchmarks/ema_budget.py --data-root ../shared/data/cifar10      # ~35 CPU-minutes
    python benchmarks/ema_budget.py --report
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from scipy import stats

from nas.genotype.presets import resolve
from nas.training.config import TrainConfig
from nas.training.data import DataConfig, prepare
from nas.training.environment import code_commit
from nas.training.run import train_genotype

REPO = Path(__file__).resolve().parents[1]
GENOTYPE = "c24-3xOE5k12b4-t0.5"  # the table's trial 0 (dense_grid: 5 odd/even layers a block, bottleneck, k=12, θ=0.5)


def default_genotype() -> str:
    path = REPO / "benchmarks" / "results" / f"{GENOTYPE}.yaml"
    if not path.exists():
        import search_spaces
        from nas.section import Section
        from nas.tabular.table_file import Table
        table = Table.load("dense_grid")
        run = next(r for r in table.runs if r.name == GENOTYPE)
        search_spaces.genotype_from_params(search_spaces.get("dense_grid"), Section.of(table.space), run.params).save(path)
    return str(path)


def settings(args: argparse.Namespace) -> dict:
    return {k: getattr(args, k) for k in ("train_size", "val_size", "image_size", "batch_size", "lr", "threads")}


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    genotype = resolve(args.genotype)
    done = {(r["protocol"], r["epochs"], r["seed"]) for r in rows(args.results)
            if r["settings"] == settings(args) and r["genotype_id"] == genotype.id}
    data = prepare(DataConfig(name="folder", root=str(args.data_root), train_size=args.train_size,
                              val_size=args.val_size, image_size=args.image_size,
                              crop_padding=max(1, args.image_size // 8)), torch.device("cpu"), channels_last=True)
    at = code_commit() or "unknown"
    for seed in range(args.seeds):
        for epochs in args.epochs:
            for protocol in args.protocols:
                if (name(protocol, args), epochs, seed) in done:
                    continue
                cfg = TrainConfig(epochs=epochs, batch_size=args.batch_size, lr=args.lr, protocol=protocol,
                                  stop_at_chance=False, progress=False, ema_follows_lr=not args.fixed_half_life)
                start = time.perf_counter()
                _, result = train_genotype(genotype, data, cfg, seed=seed)
                row = {"settings": settings(args), "commit": at, "genotype": genotype.name,
                       "genotype_id": genotype.id, "protocol": name(protocol, args), "epochs": epochs, "seed": seed,
                       "val_accuracy": [h["val_accuracy"] for h in result["history"]],
                       "train_loss": [h["train_loss"] for h in result["history"]],
                       "peak_memory_bytes": result["peak_memory_bytes"],
                       "memory_estimate_bytes": result["memory_estimate_bytes"],
                       "seconds": time.perf_counter() - start}
                with open(args.results, "a") as f:
                    f.write(json.dumps(row) + "\n")
                print(f"seed {seed} {epochs} epoch(s) {protocol:9s}: {row['val_accuracy'][-1]:.4f} "
                      f"({row['seconds']:.0f} s)", flush=True)


def name(protocol: str, args: argparse.Namespace) -> str:
    """A protocol as the results name it: ``ema@fixed-half-life`` for ema with train.ema_follows_lr=false."""
    return f"{protocol}@fixed-half-life" if args.fixed_half_life and protocol == "ema" else protocol


def report(args: argparse.Namespace) -> list[str]:
    genotype = resolve(args.genotype)
    mine = [r for r in rows(args.results) if r["settings"] == settings(args) and r["genotype_id"] == genotype.id]
    names = sorted({r["protocol"] for r in mine}, key=lambda p: (p != "onecycle", p))
    out = [f"{genotype.name}: {args.train_size} / {args.val_size} images at {args.image_size}×{args.image_size}, "
           f"batch {args.batch_size}, lr {args.lr}; final validation accuracy, mean over seeds"]
    reference = "onecycle"
    for epochs in args.epochs:
        by = {p: {r["seed"]: r for r in mine if r["protocol"] == p and r["epochs"] == epochs} for p in names}
        if not by.get(reference):
            continue
        cells = []
        for p in names:  # each protocol on the seeds it shares with onecycle
            seeds = sorted(set(by[p]) & set(by[reference]))
            if not seeds:
                continue
            finals = [by[p][s]["val_accuracy"][-1] for s in seeds]
            cell = f"{p} {statistics.mean(finals):.4f}"
            if p != reference:
                d = [a - by[reference][s]["val_accuracy"][-1] for a, s in zip(finals, seeds)]
                half = (stats.t.ppf(0.975, len(d) - 1) * statistics.stdev(d) / math.sqrt(len(d))) if len(d) > 1 else float("nan")
                cell += (f" ({statistics.mean(d):+.4f} ± {half:.4f} vs {reference} over {len(d)} seeds, "
                         f"equal in {sum(x == 0 for x in d)})")
            memory = statistics.median(by[p][s]["peak_memory_bytes"] for s in seeds) / 2**20
            estimate = statistics.median(by[p][s]["memory_estimate_bytes"] for s in seeds) / 2**20
            cells.append(cell + f", peak {memory:.0f} MiB (estimate {estimate:.0f})")
        out.append(f"{epochs:2d} epoch(s): " + "; ".join(cells))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genotype", default=None, help=f"a preset or genotype file (default: {GENOTYPE})")
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data" / "cifar10")
    parser.add_argument("--train-size", type=int, default=8000)
    parser.add_argument("--val-size", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 3, 9])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--protocols", nargs="+", default=["onecycle", "ema"])
    parser.add_argument("--fixed-half-life", action="store_true",
                        help="ema as it was before issue 28 (train.ema_follows_lr=false), named ema@fixed-half-life")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "ema_budget.jsonl")
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    args.genotype = args.genotype or default_genotype()
    if not args.report:
        if not args.data_root.is_dir():
            sys.exit(f"--data-root {args.data_root}: no such folder; give the CIFAR-10 image folder")
        train(args)
    print("\n".join(report(args)))


if __name__ == "__main__":
    main()
