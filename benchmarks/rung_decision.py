"""What one rung decision costs as a study grows: ``nas.scheduling.decide`` (non-dominated sorting,
crowding distance, the trial's place) on n earlier results, against Optuna's own non-dominated
sort of the same points (``optuna.study._multi_objective._fast_non_domination_rank``), side by side.

    python benchmarks/rung_decision.py            # n = 100, 1,000, 5,000; 3 objectives
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from optuna.study._multi_objective import _fast_non_domination_rank

from nas.pareto.dominance import front_ranks
from nas.scheduling import decide


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--objectives", type=int, default=3)
    args = parser.parse_args()
    print(f"{'n at the rung':>13s} {'decide ms':>10s} {'optuna sort ms':>15s} {'ratio':>6s}  same fronts")
    for n in args.sizes:
        rng = np.random.default_rng(n)
        # accuracy-like, parameter-like and MAC-like losses, rounded so that ties occur
        points = np.column_stack([-rng.random(n).round(3), *(10 ** rng.uniform(4, 7, (args.objectives - 1, n)))])
        repeats = 5 if n <= 1000 else 2
        ours = best_of(lambda: decide(points[-1], list(points[:-1]), eta=3), repeats)
        theirs = best_of(lambda: _fast_non_domination_rank(points), repeats)
        same = bool((front_ranks(points) == _fast_non_domination_rank(points)).all())
        print(f"{n:13,d} {ours * 1000:10.1f} {theirs * 1000:15.1f} {ours / theirs:6.2f}  {same}")


if __name__ == "__main__":
    main()
