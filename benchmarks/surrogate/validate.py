"""How well a surrogate fitted on part of a table ranks the rest: the figures of the surrogate's data card.

For ``--splits`` random splits of the table's genotypes, a surrogate (:func:`nas.tabular.surrogate_model.fit`)
is fitted on ``--train-share`` of them and ranks the others by predicted final validation accuracy,
against the mean of their runs. Beside it, two references: the ranking by parameter count alone,
and the seed-to-seed ceiling (one run of each genotype trained twice against the other). Each is
given overall and within the top fifth (by the truth), where a search's front lies: Spearman's ρ
and Kendall's τ, the mean over splits with a 95% interval, and the paired difference to the
parameter ranking.

Also: the learning curve (held-out ρ against the number of genotypes fitted on, on one held-out
set per split), and the coverage of the surrogate's 80% and 95% intervals for one new run, on the
second-seed runs of held-out genotypes (the interval's width is calibrated on the held-out
genotypes trained once: their residuals hold both the model's error and the seed noise). These
intervals are this check's, for one new run of an unseen genotype; a replay on the surrogate takes
its expected run as the truth and adds only the seed noise of its data's repeated genotypes.

    python benchmarks/surrogate/validate.py --table dense_grid            # the check on the tabular benchmark
    python benchmarks/surrogate/validate.py --table benchmarks/surrogate/data.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from search_quality import mean_ci  # noqa: E402

from nas.analysis.brief_training import rank_correlations  # noqa: E402
from nas.tabular.surrogate_model import fit  # noqa: E402
from nas.tabular.table_file import Table  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def final(run) -> float:
    return run.final["val_accuracy"]


def correlations(scores: list[float], truth: list[float]) -> tuple[float, float]:
    """(Spearman ρ, Kendall τ)."""
    both = rank_correlations(scores, truth)
    return both["spearman"], both["kendall"]


def top_fifth(truth: list[float]) -> list[int]:
    k = max(3, round(len(truth) / 5))
    return sorted(range(len(truth)), key=lambda i: -truth[i])[:k]


def one_split(table: Table, split: int, share: float, ensemble: int, sizes: list[int]) -> dict:
    expected = {r.genotype_id: r for r in table.expected() if r.complete}
    ids = sorted(expected)
    rng = random.Random(split)
    rng.shuffle(ids)
    n_train = round(share * len(ids))
    train, test = ids[:n_train], ids[n_train:]
    surrogate = fit(table, genotype_ids=train, ensemble=ensemble, seed=split)

    def predict(s, genotype_ids):
        return [final(s.expected(s.genotype(expected[g].params))) for g in genotype_ids]

    truth = [final(expected[g]) for g in test]
    predicted = predict(surrogate, test)
    size = [float(expected[g].n_params) for g in test]
    top = top_fifth(truth)
    out = {"split": split, "train": len(train), "test": len(test)}
    for name, scores in (("surrogate", predicted), ("params", size)):
        out[name] = correlations(scores, truth)
        out[name + "_top"] = correlations([scores[i] for i in top], [truth[i] for i in top])
    # intervals: width from the held-out genotypes trained once, coverage on the second runs of those trained twice
    twice = {g for g in test if len([r for r in table.runs_of(g) if r.complete]) > 1}
    once = [i for i, g in enumerate(test) if g not in twice]
    spread = float(np.std([final(table.runs_of(test[i])[0]) - predicted[i] for i in once], ddof=1))
    second = [(predicted[i], final([r for r in table.runs_of(g) if r.complete][1])) for i, g in enumerate(test)
              if g in twice]
    out["interval_sd"] = spread
    out["coverage"] = {str(level): float(np.mean([abs(run - mean) <= stats.norm.ppf(0.5 + level / 2) * spread
                                                  for mean, run in second])) if second else None
                       for level in (0.8, 0.95)}
    out["second_runs"] = len(second)
    curve = {}
    for n in sorted({*sizes, len(train)}):  # the last point: the surrogate the figures above are of
        if n <= len(train):
            small = fit(table, genotype_ids=train[:n], ensemble=ensemble, seed=split)
            curve[str(n)] = correlations(predict(small, test), truth)[0]
    out["curve"] = curve
    return out


def ceiling(table: Table) -> dict:
    """Seed to seed: the first two runs of every genotype trained twice, overall and in their top fifth."""
    pairs = table.pairs()
    a, b = [final(x) for x, _ in pairs], [final(y) for _, y in pairs]
    mean = [(x + y) / 2 for x, y in zip(a, b)]
    top = top_fifth(mean)
    return {"pairs": len(pairs), "all": correlations(a, b), "top": correlations([a[i] for i in top], [b[i] for i in top])}


def interval(xs: list[float]) -> str:
    mean, half = mean_ci(xs)
    return f"{mean:.3f} (95% CI {mean - half:.3f} to {mean + half:.3f})"


def report(rows: list[dict], table: Table, spec: str, share: float) -> list[str]:
    seeds = ceiling(table)
    out = [f"surrogate of {spec} ({len(table.genotypes)} genotypes, {table.epochs} epochs) fitted on {share:.0%} of "
           f"its genotypes, ranked on the other {rows[0]['test']}: {len(rows)} random splits; the truth is each "
           "genotype's mean final validation accuracy",
           f"seed-to-seed ceiling ({seeds['pairs']} genotypes trained twice): ρ {seeds['all'][0]:.3f}, τ "
           f"{seeds['all'][1]:.3f}; in their top fifth ρ {seeds['top'][0]:.3f}, τ {seeds['top'][1]:.3f}"]
    for where, key in (("overall", ""), ("top fifth", "_top")):
        for i, stat in enumerate(("Spearman ρ", "Kendall τ")):
            mine = [r["surrogate" + key][i] for r in rows]
            size = [r["params" + key][i] for r in rows]
            out.append(f"{where:9} {stat}: surrogate {interval(mine)}; parameters alone {interval(size)}; "
                       f"difference {interval([m - s for m, s in zip(mine, size)])}")
    for level in ("0.8", "0.95"):
        covered = [r["coverage"][level] for r in rows if r["coverage"][level] is not None]
        if covered:
            out.append(f"{float(level):.0%} interval for one new run (SD {np.mean([r['interval_sd'] for r in rows]):.4f}, "
                       f"calibrated on held-out genotypes trained once): covers {interval(covered)} of the "
                       f"{np.mean([r['second_runs'] for r in rows]):.0f} held-out second-seed runs per split")
    sizes = sorted({int(n) for r in rows for n in r["curve"]})
    out.append("learning curve, held-out ρ by genotypes fitted on: " + "; ".join(
        f"{n}: {interval([r['curve'][str(n)] for r in rows if str(n) in r['curve']])}" for n in sizes))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default="dense_grid", help="a shipped table's name or a table file")
    parser.add_argument("--splits", type=int, default=30)
    parser.add_argument("--train-share", type=float, default=0.4)
    parser.add_argument("--ensemble", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 40, 60, 80, 120, 160, 240, 320])
    parser.add_argument("--results", type=Path, default=None,
                        help="default: benchmarks/results/surrogate_validation-<table>.jsonl (and .txt)")
    args = parser.parse_args()
    table = Table.load(args.table)
    stem = Path(args.table).stem
    results = args.results or REPO / "benchmarks" / "results" / f"surrogate_validation-{stem}.jsonl"
    rows = []
    for split in range(args.splits):
        rows.append(one_split(table, split, args.train_share, args.ensemble, args.sizes))
        print(f"split {split}: ρ {rows[-1]['surrogate'][0]:.3f} (parameters {rows[-1]['params'][0]:.3f})", flush=True)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = "\n".join(report(rows, table, args.table, args.train_share))
    command = " ".join(["python", "benchmarks/surrogate/validate.py", *sys.argv[1:]])
    results.with_suffix(".txt").write_text(f"{command}\n\n{text}\n")
    print(text)


if __name__ == "__main__":
    main()
