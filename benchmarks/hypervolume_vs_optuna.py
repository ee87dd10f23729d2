"""Exact hypervolume: ``nas.pareto.hypervolume`` next to Optuna's ``compute_hypervolume``.

    python benchmarks/hypervolume_vs_optuna.py [--rounds 5] [--history-points 300] [--stride 10]

Points lie on a concave front (1 − |g| / ‖g‖ for a normal g), a fifth of them pushed back by
up to 0.1 so they are dominated, reference 1.1 in every objective: most points are
non-dominated, as in a study that has converged, which is where an exact hypervolume is
expensive. Both run in this process on the same arrays, alternating, and each row prints
the median seconds per call and Optuna's time over ours.

The history rows add ``--history-points`` such points in random order to a
``HypervolumeHistory`` and give the median seconds of one ``add`` next to the median
seconds of recomputing ``hypervolume`` of the same prefix from scratch (every
``--stride``-th prefix, to keep the run short).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from optuna._hypervolume import compute_hypervolume

from nas.pareto.hypervolume import HypervolumeHistory, hypervolume

CASES = [(200, 3), (100, 4), (100, 5), (200, 5)]
HISTORY_DIMS = [3, 5]


def front(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points on a concave front in ``d`` objectives, a fifth dominated; reference 1.1."""
    rng = np.random.default_rng(seed)
    g = np.abs(rng.normal(size=(n, d)))
    points = 1 - g / np.linalg.norm(g, axis=1, keepdims=True)
    points[: n // 5] += rng.uniform(0, 0.1, size=(n // 5, d))
    return rng.permutation(points), np.full(d, 1.1)


def seconds(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def versus_optuna(n: int, d: int, rounds: int) -> tuple[float, float, float]:
    """Median seconds of ours and of Optuna's, and their relative difference in value."""
    points, reference = front(n, d, seed=n + d)
    inside = points[(points < reference).all(axis=1)]  # Optuna refuses points outside
    ours, theirs, values = [], [], []
    for _ in range(rounds):
        t, v = seconds(hypervolume, points, reference)
        ours.append(t)
        t, w = seconds(compute_hypervolume, inside, reference)
        theirs.append(t)
        values.append(abs(v - w) / abs(w))
    return statistics.median(ours), statistics.median(theirs), max(values)


def history_versus_recompute(n: int, d: int, stride: int) -> tuple[float, float, float]:
    """Median seconds of one ``add`` and of a recomputation of the same prefix, and the final gap."""
    points, reference = front(n, d, seed=7 * d)
    history = HypervolumeHistory(reference)
    adds, recomputes = [], []
    for k, point in enumerate(points, start=1):
        t, value = seconds(history.add, point)
        adds.append(t)
        if k % stride == 0 or k == n:
            t, full = seconds(hypervolume, points[:k], reference)
            recomputes.append(t)
    return statistics.median(adds), statistics.median(recomputes), abs(value - full) / full


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5, help="calls per implementation and case")
    p.add_argument("--history-points", type=int, default=300)
    p.add_argument("--stride", type=int, default=10, help="recompute every STRIDE-th prefix")
    args = p.parse_args()

    print(f"median of {args.rounds} calls; points on a concave front, 1/5 dominated")
    print(f"{'n':>5s} {'d':>2s} {'ours s':>11s} {'optuna s':>11s} {'optuna / ours':>14s} {'rel. diff':>10s}")
    for n, d in CASES:
        ours, theirs, diff = versus_optuna(n, d, args.rounds)
        print(f"{n:5d} {d:2d} {ours:11.6f} {theirs:11.6f} {theirs / ours:13.1f}x {diff:10.1e}")

    n = args.history_points
    print()
    print(f"HypervolumeHistory over {n} points in random order "
          f"(recompute: every {args.stride}th prefix)")
    print(f"{'n':>5s} {'d':>2s} {'add s':>11s} {'recompute s':>11s} "
          f"{'recompute / add':>16s} {'rel. diff':>10s}")
    for d in HISTORY_DIMS:
        add, recompute, diff = history_versus_recompute(n, d, args.stride)
        print(f"{n:5d} {d:2d} {add:11.6f} {recompute:11.6f} {recompute / add:15.1f}x {diff:10.1e}")


if __name__ == "__main__":
    main()
