"""Per-trial cost of a long study: does trial 300 cost what trial 10 costs?

Runs real studies through the code path of ``python -m nas.search`` (``run_search``:
TPE, SQLite, W&B offline, outputs after every trial) with real tiny genotypes trained
for one epoch on a tiny generated dataset on this machine, once per objective set, and
prints the median per-trial overhead outside training — the worker's time per trial
minus the trainer's wall time — in windows of trials, with the sampler's share (time in
``Study.ask``) beside it and each window's ratio to the first.

    python benchmarks/study_scale.py                      # 300 trials × (3 and 5 objectives)
    python benchmarks/study_scale.py --trials 60 --objective-sets 3
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
from hydra import compose, initialize_config_dir
from PIL import Image

import nas
from nas.runtime import startup
from nas.settings import parse_search
from nas.workers.run_study import run_study

CONF = str(Path(nas.__file__).parent / "conf")
OBJECTIVE_SETS = {
    3: "[val_accuracy,params,macs]",
    5: "[val_accuracy,params,macs,val_loss,latency_batch1_ms]",
}
LINE = re.compile(r"^trial (\d+): .*\[([\d.]+) s(?:, training ([\d.]+) s)?\]")


def write_images(root: Path, n_per_class: int = 32, classes: int = 3, size: int = 8) -> Path:
    """A tiny image folder whose brightness encodes the class."""
    rng = np.random.default_rng(0)
    for c in range(classes):
        folder = root / "train" / f"class{c}"
        folder.mkdir(parents=True)
        for i in range(n_per_class):
            pixels = np.clip(40 + 80 * c + rng.integers(-30, 31, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root


class SamplerTimer:
    """Seconds each trial spends in the sampler: ``Study.ask`` (relative sampling) and every
    ``suggest_*`` (independent sampling), by trial number."""

    def __init__(self) -> None:
        self.seconds: dict[int, float] = {}
        self._ask, self._suggest = optuna.Study.ask, optuna.trial.Trial._suggest

    def _timed(self, fn, number_of):
        timer = self

        def timed(obj, *args, **kwargs):
            start = time.perf_counter()
            try:
                out = fn(obj, *args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
            number = number_of(obj, out)
            timer.seconds[number] = timer.seconds.get(number, 0.0) + elapsed
            return out

        return timed

    def __enter__(self) -> SamplerTimer:
        optuna.Study.ask = self._timed(self._ask, lambda study, trial: trial.number)
        optuna.trial.Trial._suggest = self._timed(self._suggest, lambda trial, value: trial.number)
        return self

    def __exit__(self, *exc) -> None:
        optuna.Study.ask, optuna.trial.Trial._suggest = self._ask, self._suggest


def run(trials: int, objectives: str, workdir: Path, images: Path, sampler: str) -> tuple[dict[int, float], dict[int, float], float]:
    overrides = [
        "data=folder", f"data.root={images}", f"data.cache_dir={workdir / 'cache'}", "data.val_size=32",
        "train=smoke", "train.batch_size=32", "train.progress=false", "device=cpu", "study_name=scale",
        f"storage.url=sqlite:///{workdir / 'study.db'}", f"sampler={sampler}",
        "search_space.layers=[2,4]", "search_space.growth=[4,8]", "search_space.stem_multiplier=1",
        f"n_trials={trials}", f"objectives={objectives}", "logger=wandb", "logger.mode=offline",
        "enqueue_baselines=false",
    ]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="search", overrides=overrides)
    overhead: dict[int, float] = {}

    def log(message: str) -> None:
        m = LINE.match(message)
        if m:
            overhead[int(m[1])] = float(m[2]) - float(m[3] or 0.0)

    start = time.perf_counter()
    with SamplerTimer() as sampling:
        run_study(parse_search(cfg), workdir / "out", log=log)
    return overhead, sampling.seconds, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=300)
    p.add_argument("--objective-sets", type=int, nargs="+", default=[3, 5], choices=sorted(OBJECTIVE_SETS))
    p.add_argument("--sampler", default="tpe")
    p.add_argument("--window", type=int, default=20)
    args = p.parse_args()
    startup()
    n = args.trials
    windows = [(1, args.window), (n // 2 - args.window // 2, n // 2 + args.window // 2), (n - args.window, n)]
    print(f"{n} trials per study, sampler {args.sampler}, W&B offline, 96 images 8×8, one epoch per trial")
    print("overhead: a trial's time in the worker minus the trainer's wall time (median per window);")
    print("sampler: its time in Study.ask and suggest_*; rest: the overhead without the sampler")
    print(f"{'objectives':>10} {'trials':>10} {'overhead s':>11} {'/ first':>8} {'sampler s':>10} {'rest s':>8} "
          f"{'/ first':>8}")
    for k in args.objective_sets:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            images = write_images(workdir / "images")
            overhead, asks, wall = run(n, OBJECTIVE_SETS[k], workdir, images, args.sampler)
        first = None
        for lo, hi in windows:
            numbers = [i for i in range(lo - 1, hi) if i in overhead]  # trials are numbered from 0
            total = statistics.median(overhead[i] for i in numbers)
            sampler = statistics.median(asks.get(i, 0.0) for i in numbers)
            rest = statistics.median(overhead[i] - asks.get(i, 0.0) for i in numbers)
            first = first or (total, rest)
            print(f"{k:>10} {f'{lo}–{hi}':>10} {total:>11.3f} {total / first[0]:>7.2f}x {sampler:>10.3f} "
                  f"{rest:>8.3f} {rest / first[1]:>7.2f}x")
        print(f"{'':>10} whole study: {wall:.0f} s wall, {len(overhead)} trials timed")


if __name__ == "__main__":
    main()
