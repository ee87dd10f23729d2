"""Does stopping dominated trials early buy a better front in the same wall-clock time?

Runs ``python -m nas.search`` studies on CIFAR-10 (``--train-size`` training and
``--val-size`` validation images carved from the training split, down-sampled to
``--image-size`` pixels so that a 2-core CPU trains a few dozen nets in minutes; a space
of small nets; a full budget of ``--epochs`` epochs), each for the same wall-clock
budget, with

- ``tpe``:        TPE, every trial trained for the full budget (``scheduler=none``);
- ``tpe+asha``:   TPE with ``scheduler=asha`` (rungs at 1, eta, eta², … epochs);
- ``random``:     random search, every trial trained fully;

and ``--seeds`` seeds each, the methods interleaved seed by seed so that anything else
the machine does spreads over all of them. Each study is stopped (SIGTERM) when its
budget is spent; only the trials completed by then count. It prints the hypervolume of
each study's full-budget front (the study's own fixed normalisation, the same for every
study) at quarters of the budget, the architectures each explored, and for each seed
the fraction of the budget that ``tpe+asha`` took to reach the final hypervolume of
``tpe`` (the target: ≤ 0.5).

Every study's curve is appended to ``--results`` (JSON lines) when it ends, and a study already
there (same method, seed and settings) is not run again: stopped, the benchmark goes on where it
was; the tables are printed from that file.

    python benchmarks/multifidelity.py                          # 3 methods × 5 seeds of 4 minutes (CPU)
    python benchmarks/multifidelity.py --image-size 32 --minutes 20 --data-root …   # at full resolution
    python benchmarks/multifidelity.py --minutes 2 --seeds 0    # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from omegaconf import OmegaConf
from optuna.trial import TrialState

from nas.pareto.front import Front
from nas.study.record import Status, TrialRecord

REPO = Path(__file__).resolve().parents[1]
SPACE = ["search_space.blocks=3", "search_space.layers=[2,4]", "search_space.growth=[8,12]",
         "search_space.growth_schedule=[constant]", "search_space.bottleneck=[null,2]"]
METHODS = {
    "tpe": ["sampler=tpe", "scheduler=none"],
    "tpe+asha": ["sampler=tpe", "scheduler=asha"],
    "random": ["sampler=random", "scheduler=none"],
}
OBJECTIVES = ["val_accuracy", "params", "macs"]
SHIPPED_PROTOCOL = OmegaConf.load(REPO / "conf" / "train" / "default.yaml").protocol  # train.protocol by default


def run_study(method: str, seed: int, args: argparse.Namespace, work: Path) -> tuple[float, Path]:
    """One study, stopped after the budget; (its start time, its storage file). ``args``: this
    script's options (the GPU run's stage e passes its own)."""
    db = work / f"{method}-{seed}.db"
    command = [sys.executable, "-m", "nas.search", *METHODS[method], *SPACE,
               f"scheduler.eta={args.eta}" if method == "tpe+asha" else "",
               "data=folder", f"data.root={args.data_root}",
               f"data.train_size={'null' if args.train_size is None else args.train_size}",
               f"data.val_size={args.val_size}", f"data.image_size={args.image_size}",
               f"data.crop_padding={args.image_size // 8}", f"train.epochs={args.epochs}", f"train.batch_size={args.batch_size}",
               f"train.protocol={args.protocol}",
               f"train.lr={args.lr}", "train.progress=false", f"device={args.device}", f"seed={seed}", "n_trials=100000",
               f"study_name=mf-{method.replace('+', '-')}-{seed}", f"storage.url=sqlite:///{db}", "logger=none",
               "enqueue_baselines=false", "plot_every=1e9", f"objectives=[{','.join(OBJECTIVES)}]"]
    start = time.time()
    with open(work / f"{method}-{seed}.log", "w") as log:
        process = subprocess.Popen([c for c in command if c], cwd=work, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            process.wait(timeout=args.minutes * 60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    if process.returncode not in (0, 1, 130, -signal.SIGTERM, 128 + signal.SIGTERM):
        tail = (work / f"{method}-{seed}.log").read_text(errors="replace").strip().splitlines()[-3:]
        raise SystemExit(f"{method} seed {seed} failed ({process.returncode}): {' | '.join(tail)}")
    return start, db


def curve(start: float, db: Path, method: str, seed: int, budget: float) -> dict:
    """Hypervolume of the full-budget front against seconds since the study's start."""
    study = optuna.load_study(study_name=f"mf-{method.replace('+', '-')}-{seed}", storage=f"sqlite:///{db}")
    trials = [t for t in study.get_trials(deepcopy=False) if t.datetime_complete is not None
              and t.datetime_complete.timestamp() - start <= budget]
    front = Front(OBJECTIVES)
    points = [(0.0, 0.0)]
    trained = full = 0
    for t in sorted(trials, key=lambda t: t.datetime_complete):
        record = TrialRecord.of(t)
        trained += record.status.trained
        if t.state == TrialState.COMPLETE:
            full += 1
            front.add(t.number, t.values)
            points.append((t.datetime_complete.timestamp() - start, front.value))
    return {"points": points, "architectures": trained, "full": full,
            "stopped": sum(TrialRecord.of(t).status == Status.STOPPED for t in trials)}


def at(points: list[tuple[float, float]], seconds: float) -> float:
    return max(hv for s, hv in points if s <= seconds)


def reached(points: list[tuple[float, float]], target: float) -> float | None:
    """The first second at which the hypervolume reached ``target``."""
    return next((s for s, hv in points if hv >= target - 1e-12), None)


def settings(args: argparse.Namespace) -> dict:
    """What a study's result depends on besides its method and seed."""
    return {k: str(v) for k, v in sorted(vars(args).items()) if k not in ("seeds", "methods", "results")}


def finished(path: Path, args: argparse.Namespace) -> dict[tuple[str, int], dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    for r in rows:  # rows from before train.schedule was renamed train.protocol
        if "schedule" in r["settings"]:
            r["settings"]["protocol"] = r["settings"].pop("schedule")
    return {(r["method"], r["seed"]): r for r in rows if r["settings"] == settings(args)}


def cifar_options(parser: argparse.ArgumentParser, epochs: int) -> None:
    """The data and training settings of the CPU benchmarks (this one and benchmarks/training_protocols.py)."""
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data" / "cifar10")
    parser.add_argument("--train-size", type=int, default=8000)
    parser.add_argument("--val-size", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=epochs, help="the full budget")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cifar_options(parser, epochs=6)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=4.0, help="wall-clock budget of every study")
    parser.add_argument("--protocol", default=SHIPPED_PROTOCOL,
                        help="train.protocol of every study (default: the shipped default)")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "multifidelity-cpu.jsonl")
    parser.add_argument("--device", default="cpu", help="cpu (the figures in the README), cuda or auto")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    args = parser.parse_args()
    if not (args.data_root / "train").is_dir():
        raise SystemExit(f"--data-root {args.data_root}: no train/ folder there; give the CIFAR-10 image folder")
    budget = args.minutes * 60
    print(f"{args.train_size} training / {args.val_size} validation images of {args.data_root} at "
          f"{args.image_size}×{args.image_size}, full budget "
          f"{args.epochs} epochs, train.protocol={args.protocol}, asha eta={args.eta}, {args.minutes:g} min per "
          f"study, seeds {args.seeds}, {os.cpu_count()} CPU(s)", flush=True)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict]] = {m: [] for m in args.methods}
    with tempfile.TemporaryDirectory(prefix="multifidelity-") as tmp:
        work = Path(tmp)
        for seed in args.seeds:
            for method in args.methods:
                c = finished(args.results, args).get((method, seed))
                if c is None:
                    start, db = run_study(method, seed, args, work)
                    c = {"method": method, "seed": seed, "settings": settings(args),
                         **curve(start, db, method, seed, budget)}
                    with open(args.results, "a") as f:
                        f.write(json.dumps(c) + "\n")
                results[method].append(c)
                print(f"  {method:9s} seed {seed}: final hypervolume {at(c['points'], budget):.4f}, "
                      f"{c['architectures']} architectures trained ({c['full']} to the full budget, "
                      f"{c['stopped']} stopped at a rung)", flush=True)
    quarters = [budget * q / 4 for q in (1, 2, 3, 4)]
    print(f"\nhypervolume of the full-budget front (mean ± sd over {len(args.seeds)} seeds) at each quarter "
          f"of {args.minutes:g} min:")
    print(f"  {'method':9s} " + " ".join(f"{f'{s / 60:.1f} min':>15s}" for s in quarters)
          + "  architectures  full budget")
    for method, runs in results.items():
        cells = []
        for s in quarters:
            values = [at(r["points"], s) for r in runs]
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.4f} ± {sd:.4f}")
        print(f"  {method:9s} " + " ".join(f"{c:>15s}" for c in cells)
              + f"  {statistics.mean(r['architectures'] for r in runs):13.1f}"
              f"  {statistics.mean(r['full'] for r in runs):11.1f}")
    if "tpe" in results and "tpe+asha" in results:
        print("\ntime tpe+asha took to reach tpe's final hypervolume, as a fraction of the budget (target ≤ 0.5):")
        fractions = []
        for seed, full, asha in zip(args.seeds, results["tpe"], results["tpe+asha"]):
            target = at(full["points"], budget)
            when = reached([p for p in asha["points"] if p[0] <= budget], target)
            fractions.append(None if when is None else when / budget)
            print(f"  seed {seed}: tpe final {target:.4f}; tpe+asha "
                  + ("never reached it" if when is None else f"reached it at {when / 60:.1f} min = {when / budget:.2f}")
                  + f"; its own final {at(asha['points'], budget):.4f} (ratio to tpe "
                  f"{at(asha['points'], budget) / max(target, 1e-12):.3f})")
        met = sum(f is not None and f <= 0.5 for f in fractions)
        print(f"  target met in {met} of {len(fractions)} seeds")


if __name__ == "__main__":
    main()
