"""The NAS-Bench-301 check, on the table where the truth is known: do the methods rank alike on a surrogate?

A surrogate fitted on a random 40% of ``dense_grid`` (``python -m nas.table fit dense_grid --share 0.4``)
stands in for the table; ``search_quality.py --surrogate`` replays the methods on it, each study
measured in the surrogate's own world (its expected run of every genotype). If the surrogate is fit
for choosing defaults, the methods come out in the same order, with similar times, as on the table
itself. Per worker count: each method's time to 95% of its world's true hypervolume, as a share of its
world's horizon (the worlds' seconds differ), mean over the seeds both files hold; the hypervolume at a
third of the horizon, as a share of the true one; and the rank correlations of the methods between the
two worlds.

    python benchmarks/surrogate/nb301_check.py --surrogate benchmarks/surrogate/build/dense_grid-40.json.gz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import search_quality as sq  # noqa: E402

from nas.tabular.quality import true_hypervolume  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def world_args(surrogate: str | None, results: Path) -> argparse.Namespace:
    return argparse.Namespace(table="dense_grid", surrogate=surrogate, noise=True, max_trials=600, results=results)


def summary(args: argparse.Namespace, methods: list[str], workers: int, seeds: list[int]) -> dict[str, tuple[float, float]]:
    """Per method: (time to 95% of the true hypervolume / horizon, hypervolume at H/3 / the true one)."""
    done, table = sq.finished(args), sq.world(args)
    best, budget = true_hypervolume(table, sq.OBJECTIVES, True), sq.horizon(table, workers, True)
    out = {}
    for m in methods:
        rs = [done[(m, workers, s)] for s in seeds]
        out[m] = (float(np.mean(sq.time_to(rs, 0.95 * best, budget))) / budget,
                  float(np.mean([sq.at(r["points"], budget / 3) for r in rs])) / best)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surrogate", required=True)
    parser.add_argument("--table-results", type=Path, default=REPO / "benchmarks/results/search_quality-noise.jsonl")
    parser.add_argument("--surrogate-results", type=Path, default=REPO / "benchmarks/results/search_quality-surrogate.jsonl")
    args = parser.parse_args()
    on_table, on_surrogate = world_args(None, args.table_results), world_args(args.surrogate, args.surrogate_results)
    a, b = sq.finished(on_table), sq.finished(on_surrogate)
    lines = [f"python benchmarks/surrogate/nb301_check.py --surrogate {args.surrogate}", ""]
    for workers in sorted({k[1] for k in b}):
        methods = sq.order({k[0] for k in b if k[1] == workers} & {k[0] for k in a if k[1] == workers})
        seeds = sorted(set.intersection(*({k[2] for k in d if k[1] == workers and k[0] == m}
                                          for d in (a, b) for m in methods)))
        if len(methods) < 3 or not seeds:
            continue
        t, s = summary(on_table, methods, workers, seeds), summary(on_surrogate, methods, workers, seeds)
        lines.append(f"== {workers} worker(s), {len(seeds)} seeds: time to 95% of the true hypervolume / horizon, "
                     "and hypervolume at H/3 / the true one ==")
        lines.append(f"{'method':28s} {'table t95':>10s} {'surrogate':>10s} {'table HV':>9s} {'surrogate':>10s}")
        for m in methods:
            lines.append(f"{m:28s} {t[m][0]:10.3f} {s[m][0]:10.3f} {t[m][1]:9.4f} {s[m][1]:10.4f}")
        for i, what in enumerate(("time to 95%", "hypervolume at H/3")):
            x, y = [t[m][i] for m in methods], [s[m][i] for m in methods]
            lines.append(f"methods ranked by {what} on the table and on the surrogate: Spearman ρ "
                         f"{stats.spearmanr(x, y).statistic:.3f}, Kendall τ {stats.kendalltau(x, y).statistic:.3f}")
        lines.append("")
    text = "\n".join(lines)
    args.surrogate_results.with_suffix(".txt").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
