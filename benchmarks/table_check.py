"""Does the table still say what the product does, and do its rankings hold at 32×32?

Retrains a stratified sample of the tabular benchmark's genotypes through the product's unit of
work (:func:`nas.training.run.train_genotype`, what every search trial and ``nas.train`` run),
on the table's own data, split and training settings, on one CPU thread as the table was built:

- ``--image-size 16`` (the table's resolution) at seeds the table never used: each genotype's
  shift from the mean of its table runs, overall and per pattern, with 95% intervals, against
  the seed noise the table's own repeats show;
- ``--image-size 32`` (what users train at; crop padding 4, the table's 2 scaled with the image):
  Spearman ρ and Kendall τ of the genotypes' final accuracy against the table's, beside the
  table's seed-to-seed ceiling, and the size-adjusted pattern effects at both resolutions;
- ``--exact``: a genotype at the table's own seed (its build trial's), to see whether the
  product reproduces a table run bit for bit on this machine.

The sample: for each pattern, its genotypes sorted by parameters in ``--per-pattern`` bins of
equal count, one genotype from each: the most accurate member of the table's true front in the
bin if there is one, else one drawn with seed 0; then every other member of the true front. Every run is appended to ``--results`` (JSON
lines) with its settings and the commit it ran at, and a run already there is not trained again.

    python benchmarks/table_check.py --data-root ../shared/data/cifar10 --image-size 16   # ~45 CPU-minutes
    python benchmarks/table_check.py --data-root ../shared/data/cifar10 --image-size 32 --genotypes 24  # ~3.3 CPU-hours
    python benchmarks/table_check.py --image-size 32 --genotypes 24 --shard 0/2 & python benchmarks/table_check.py --image-size 32 --genotypes 24 --shard 1/2
    python benchmarks/table_check.py --report
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

import search_spaces
from nas.section import Section
from nas.tabular import card
from nas.tabular.table_file import Run, Table
from nas.training.config import TrainConfig
from nas.training.data import DataConfig, folder_digest, prepare
from nas.training.environment import code_commit, cpu_model
from nas.training.run import train_genotype

REPO = Path(__file__).resolve().parents[1]
NEW_SEEDS = 7000  # + the genotype's place in the sample; the table's seeds are below 1300


def sample(table: Table, per_pattern: int) -> list[Run]:
    """The expected runs of the stratified sample, pattern by pattern, smallest first."""
    front = {r.genotype_id for r in table.front(card.OBJECTIVES)}
    rng = np.random.default_rng(0)
    out = []
    runs = [r for r in table.expected() if r.complete]
    for pattern in sorted({r.params["pattern"] for r in runs}):
        mine = sorted((r for r in runs if r.params["pattern"] == pattern), key=lambda r: (r.n_params, r.genotype_id))
        for part in np.array_split(np.arange(len(mine)), per_pattern):
            members = [mine[i] for i in part if mine[i].genotype_id in front]
            out.append(max(members, key=lambda r: r.final["val_accuracy"]) if members
                       else mine[int(rng.choice(part))])
    chosen = {r.genotype_id for r in out}
    return out + sorted((r for r in runs if r.genotype_id in front and r.genotype_id not in chosen),
                        key=lambda r: (r.params["pattern"], r.n_params))


def settings(table: Table, args: argparse.Namespace) -> dict:
    """The table's setup at ``--image-size``, with what the flags change (more data, epochs, a GPU)."""
    setup = table.setup
    train = {**setup["train"], **{k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size),
                                                     ("lr", args.lr)) if v is not None}}
    out = {"image_size": args.image_size, "crop_padding": setup["crop_padding"] * args.image_size // setup["image_size"][0],
           "train_size": setup["train_size"] if args.train_size == 0 else args.train_size,
           "val_size": args.val_size or setup["val_size"], "split_seed": setup["split_seed"], "train": train,
           "threads": args.threads}
    return out if args.device == "cpu" else {**out, "device": args.device}


def label(s: dict) -> str:
    return (f"{s['image_size']}×{s['image_size']}, {s['train_size'] or 'all the'} / {s['val_size']} images, "
            f"{s['train']['epochs']} epochs, batch {s['train']['batch_size']}, {s.get('device', 'cpu')}")


def finished(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    for r in rows:  # runs from before train.ema_follows_lr existed trained ema with its fixed half-life
        train = r["settings"]["train"]
        if "schedule" in train:  # recorded before train.schedule was renamed train.protocol
            train["protocol"] = train.pop("schedule")
        if train["protocol"] == "ema":
            r["settings"]["train"].setdefault("ema_follows_lr", False)
    return rows


def train(args: argparse.Namespace, table: Table) -> None:
    torch.set_num_threads(args.threads)
    chosen = sample(table, args.per_pattern)
    extra = len(chosen) - args.per_pattern * len({r.params["pattern"] for r in chosen})  # front members beyond the bins
    mine = settings(table, args)
    done = {(r["genotype_id"], r["seed"]) for r in finished(args.results) if r["settings"] == mine}
    if args.check_data and "files" in table.setup and folder_digest(args.data_root) != table.setup["files"]:
        sys.exit(f"--data-root {args.data_root}: not the images the table was trained on (digest "
                 f"{folder_digest(args.data_root)}, the table's {table.setup['files']})")
    device = torch.device(args.device)
    data = prepare(DataConfig(name="folder", root=str(args.data_root), train_size=mine["train_size"],
                              val_size=mine["val_size"], split_seed=mine["split_seed"], image_size=args.image_size,
                              crop_padding=mine["crop_padding"], flip=table.setup["flip"], cache_dir=args.cache_dir),
                   device, channels_last=TrainConfig().on(device).channels_last)
    space = search_spaces.get(table.space["name"])
    tcfg = TrainConfig(**mine["train"], progress=False)
    at = code_commit() or "unknown"
    binned = len(chosen) - extra
    # the bins round-robin over the patterns, smallest bins first: a run stopped early stays stratified
    order = sorted(range(len(chosen)), key=lambda i: (i % args.per_pattern if i < binned else args.per_pattern, i))
    stop = None if args.minutes is None else time.monotonic() + 60 * args.minutes
    index, count = shard(args.shard)
    for i in order[:args.genotypes][index::count]:
        if stop is not None and time.monotonic() > stop:
            break
        expected = chosen[i]
        runs = table.runs_of(expected.genotype_id)
        seed = ({0: 0, 1: 1000}[runs[0].replica] + runs[0].trial) if args.exact else NEW_SEEDS + i
        if (expected.genotype_id, seed) in done or (args.exact and (i % args.per_pattern or i >= len(chosen) - extra)):
            continue  # --exact: the first bin of each pattern only
        genotype = search_spaces.genotype_from_params(space, Section.of(table.space), expected.params)
        start = time.process_time()
        _, result = train_genotype(genotype, data, tcfg, seed=seed)
        seconds = time.process_time() - start if args.device == "cpu" else result["wall_seconds"]  # a GPU's: the run's
        row = {"settings": mine, "commit": at, "machine": platform.processor() or platform.machine(),
               "cpu": cpu_model(), "genotype_id": genotype.id, "genotype": genotype.name,
               "pattern": expected.params["pattern"], "params": result["params"], "seed": seed,
               "exact": bool(args.exact), "status": str(result["status"]),
               "val_accuracy": [h["val_accuracy"] for h in result["history"]],
               "cpu_seconds": seconds}
        with open(args.results, "a") as f:  # one write per line: shards append to one file
            f.write(json.dumps(row) + "\n")
        recorded = ", ".join(f"{r.final['val_accuracy']:.4f}" for r in runs)
        print(f"{genotype.name} at {args.image_size}px seed {seed}: "
              f"{row['val_accuracy'][-1]:.4f} (table {recorded}; {row['cpu_seconds']:.0f} CPU s)", flush=True)


def shard(text: str) -> tuple[int, int]:
    """``--shard i/n`` as (i, n), refused in one line unless 0 ≤ i < n."""
    try:
        index, count = map(int, text.split("/"))
    except ValueError:
        sys.exit(f"--shard {text}: give i/n, e.g. 0/2")
    if not 0 <= index < count:
        sys.exit(f"--shard {text}: i must be at least 0 and below n, e.g. 0/2 and 1/2")
    return index, count


def t_interval(x: np.ndarray) -> tuple[float, float, float]:
    if len(x) < 2:
        return float(x.mean()), float("nan"), float("nan")
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half)


def report(args: argparse.Namespace, table: Table) -> list[str]:
    rows = finished(args.results)
    expected = {r.genotype_id: r for r in table.expected()}
    noise = card.noise(table)
    out = [f"table {args.table}: {len(table.genotypes)} genotypes at {table.setup['image_size'][0]}px; one run's "
           f"seed SD {noise['run_sd']:.4f}, seed-to-seed Spearman ρ {noise['spearman']:.3f}, "
           f"Kendall τ {noise['kendall']:.3f} ({noise['pairs']} genotypes trained twice)"]
    exact = [r for r in rows if r["exact"]]
    if exact:
        out += ["", "== the table's own seeds, retrained (one thread) =="]
        for r in exact:
            run = next(x for x in table.runs_of(r["genotype_id"]) if x.trial + 1000 * x.replica == r["seed"])
            same = np.array_equal(np.round(r["val_accuracy"], 4), np.round([e[0] for e in run.epochs], 4))
            out.append(f"{r['genotype']:24s} seed {r['seed']:4d}: {r['val_accuracy'][-1]:.4f} against the table's "
                       f"{run.final['val_accuracy']:.4f} ({'identical' if same else 'different'} curve; "
                       f"{r['cpu']}, commit {r['commit']}; table built on {table.build.get('machine', '?')})")
    fidelities = {json.dumps(r["settings"], sort_keys=True): r["settings"] for r in rows if not r["exact"]}
    for key, fidelity in sorted(fidelities.items(), key=lambda kv: (kv[1]["image_size"], kv[0])):
        size = fidelity["image_size"]
        mine = [r for r in rows if not r["exact"] and json.dumps(r["settings"], sort_keys=True) == key
                and r["status"] == "ok"]
        base = [expected[r["genotype_id"]] for r in mine]
        new = np.array([r["val_accuracy"][-1] for r in mine])
        old = np.array([b.final["val_accuracy"] for b in base])
        out += ["", f"== {len(mine)} genotypes retrained at {label(fidelity)}, new seeds "
                    f"(commits {', '.join(sorted({r['commit'] for r in mine}))}) =="]
        if len(mine) < 3:
            continue
        corr = stats.spearmanr(new, old).statistic, stats.kendalltau(new, old).statistic
        out.append(f"against the table's mean runs: Spearman ρ {corr[0]:.3f}, Kendall τ {corr[1]:.3f} "
                   f"(the table's seed-to-seed ceiling: ρ {noise['spearman']:.3f}, τ {noise['kendall']:.3f})")
        params = stats.spearmanr([r["params"] for r in mine], new).statistic
        out.append(f"parameters alone rank them at ρ {params:.3f} here, at ρ "
                   f"{stats.spearmanr([b.n_params for b in base], old).statistic:.3f} in the table")
        own = settings(table, argparse.Namespace(image_size=table.setup["image_size"][0], epochs=None, batch_size=None,
                                                 lr=None, train_size=0, val_size=None, threads=1, device="cpu"))
        if fidelity == own:
            out += shift(table, mine, new - old, noise)
        else:
            out += beside_own(rows, own, mine, expected)
        effects_new = card.pattern_effects([r["params"] for r in mine], [r["pattern"] for r in mine], list(new))
        effects_old = card.pattern_effects([b.n_params for b in base], [b.params["pattern"] for b in base], list(old))
        everywhere = card.size_adjusted(table)
        # params do not depend on the resolution, so the fit of the paired change is the change of the fits
        change = card.pattern_effects([b.n_params for b in base], [b.params["pattern"] for b in base], list(new - old))
        out.append("pattern vs full dense at equal parameters (least squares on log10 parameters), 95% CI:")
        for pattern in effects_new:
            e, o, a, c = effects_new[pattern], effects_old.get(pattern), everywhere.get(pattern), change[pattern]
            out.append(f"  {pattern:9s} {size}px: {e['effect']:+.4f} ({e['low']:+.4f} to {e['high']:+.4f}); the same "
                       f"genotypes in the table: {o['effect']:+.4f} ({o['low']:+.4f} to {o['high']:+.4f}); the whole "
                       f"table: {a['effect']:+.4f} ({a['low']:+.4f} to {a['high']:+.4f}); the change on the same "
                       f"genotypes, paired: {c['effect']:+.4f} ({c['low']:+.4f} to {c['high']:+.4f})")
    return out


def beside_own(rows: list[dict], own: dict, mine: list[dict], expected: dict) -> list[str]:
    """The same genotypes retrained at the table's own fidelity (new seeds), where they were: how the
    table ranks them then is the ceiling this sample's spread allows, fairer than the table's pairs."""
    at_own = {r["genotype_id"]: r["val_accuracy"][-1] for r in rows
              if not r["exact"] and r["settings"] == own and r["status"] == "ok"}
    both = [r for r in mine if r["genotype_id"] in at_own]
    if len(both) < 3:
        return []
    here = [r["val_accuracy"][-1] for r in both]
    there = [at_own[r["genotype_id"]] for r in both]
    table = [expected[r["genotype_id"]].final["val_accuracy"] for r in both]
    return [f"the {len(both)} of them also retrained at the table's fidelity (new seeds) rank against the table at "
            f"Spearman ρ {stats.spearmanr(there, table).statistic:.3f}, Kendall τ {stats.kendalltau(there, table).statistic:.3f}; "
            f"here against the table ρ {stats.spearmanr(here, table).statistic:.3f}, τ {stats.kendalltau(here, table).statistic:.3f}; "
            f"here against those retrained runs ρ {stats.spearmanr(here, there).statistic:.3f} (at the same seeds: "
            f"one initialisation and data order, so their noise is partly shared)"] + \
        ["each pattern's change in effect from those retrained runs to here, paired (the resolution alone: both new "
         "seeds, on one machine):"] + \
        [f"  {pattern:9s} {e['effect']:+.4f} ({e['low']:+.4f} to {e['high']:+.4f})" for pattern, e in
         card.pattern_effects([r["params"] for r in both], [r["pattern"] for r in both],
                              [a - b for a, b in zip(here, there)]).items()]


def shift(table: Table, rows: list[dict], d: np.ndarray, noise: dict) -> list[str]:
    """The retrained runs minus the table's means, overall and per pattern, with 95% t-intervals. The
    genotypes drawn at random in their bins are apart from those chosen for being on the true front:
    chosen by their table values, they should come out lower again (the winner's curse)."""
    front = {r.genotype_id for r in table.front(card.OBJECTIVES)}
    out = []
    for what, keep in (("drawn at random", lambda r: r["genotype_id"] not in front),
                       ("on the true front (chosen by their table values)", lambda r: r["genotype_id"] in front),
                       ("all", lambda r: True)):
        sel = np.array([keep(r) for r in rows])
        if sel.sum() < 2:
            continue
        x = d[sel]
        n_runs = [len(table.runs_of(r["genotype_id"])) for r, s in zip(rows, sel) if s]
        sd = np.sqrt(np.mean([noise["run_sd"] ** 2 * (1 + 1 / n) for n in n_runs]))  # a new run minus a mean of n
        m, lo, hi = t_interval(x)
        ratio = x.var(ddof=1) / sd ** 2  # against the noise estimated from the table's pairs (F, not χ²: it is estimated)
        out.append(f"shift (retrained − table), {what}, n={len(x)}: {m:+.4f} (95% CI {lo:+.4f} to {hi:+.4f}); SD "
                   f"{x.std(ddof=1):.4f} against the seed noise's {sd:.4f} (F test p = "
                   f"{stats.f.sf(ratio, len(x) - 1, noise['pairs']):.2f})")
    for pattern in sorted({r["pattern"] for r in rows}):
        cells = []
        for what, keep in (("all", lambda r: True), ("drawn at random", lambda r: r["genotype_id"] not in front)):
            sel = np.array([r["pattern"] == pattern and keep(r) for r in rows])
            if sel.sum() >= 2:
                m, lo, hi = t_interval(d[sel])
                cells.append(f"{what} {m:+.4f} (95% CI {lo:+.4f} to {hi:+.4f}, n={sel.sum()})")
        out.append(f"  {pattern:9s} " + "; ".join(cells))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default="dense_grid")
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data" / "cifar10")
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--per-pattern", type=int, default=6, help="size bins per pattern (genotypes per pattern)")
    parser.add_argument("--exact", action="store_true", help="the table's own seeds, the first bin of each pattern")
    parser.add_argument("--train-size", type=int, default=0, help="training images (default: the table's; "
                                                                  "-1: all that remain after validation)")
    parser.add_argument("--val-size", type=int, default=None, help="default: the table's")
    parser.add_argument("--epochs", type=int, default=None, help="default: the table's")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the table's")
    parser.add_argument("--lr", type=float, default=None, help="default: the table's")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache-dir", default=None, help="the data cache (default: the product's)")
    parser.add_argument("--minutes", type=float, default=None, help="start no genotype after this many minutes")
    parser.add_argument("--any-data", dest="check_data", action="store_false",
                        help="train on images other than the table's (a subset of them, say) without refusing")
    parser.add_argument("--genotypes", type=int, default=None, help="train only the first N of the sample "
                                                                    "(taken a size bin at a time over the patterns)")
    parser.add_argument("--shard", default="0/1", help="i/n: train every n-th genotype of the sample's order from "
                                                       "the i-th (run n at once, one per core)")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "table_check.jsonl")
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    args.train_size = None if args.train_size == -1 else args.train_size
    table = Table.load(args.table)
    if not args.report:
        if not args.data_root.is_dir():
            sys.exit(f"--data-root {args.data_root}: no such folder; give the CIFAR-10 image folder")
        args.results.parent.mkdir(parents=True, exist_ok=True)
        train(args, table)
    print("\n".join(report(args, table)))


if __name__ == "__main__":
    main()
