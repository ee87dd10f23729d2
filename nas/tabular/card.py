"""What a table says: its own noise, and which choices of the space sit on its true front.

The figures of the table's data card (``python -m nas.table card``): the seed-to-seed noise of
the genotypes trained twice, the true front's composition against the space's, and whether
sparser connectivity beats full dense connectivity at equal parameters.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from scipy import stats

from nas.tabular.noise import SeedNoise
from nas.tabular.table_file import Table

OBJECTIVES = ["val_accuracy", "params", "macs"]


def noise(table: Table) -> dict[str, float]:
    """Between the two replicas of the genotypes trained twice (both complete): how far apart their
    final accuracies are, and how well one ranks the other."""
    pairs = [(a.final["val_accuracy"], b.final["val_accuracy"]) for a, b in table.pairs()]
    if len(pairs) < 3:
        return {"pairs": len(pairs)}
    a, b = np.array(pairs).T
    d = a - b
    return {"pairs": len(pairs), "mean_abs_difference": float(np.abs(d).mean()),
            "run_sd": float(d.std(ddof=1) / np.sqrt(2)),  # one run's seed-to-seed SD
            "spearman": float(stats.spearmanr(a, b).statistic), "kendall": float(stats.kendalltau(a, b).statistic)}


def composition(table: Table, objectives: list[str] = OBJECTIVES) -> dict[str, list[tuple[Any, int, int]]]:
    """Per parameter of the space: (value, genotypes with it, those on the true front). A parameter only
    some genotypes have (``block1.m``: nearest blocks only) is counted over those that have it."""
    runs, front = table.first(), table.front(objectives)
    out = {}
    for name in dict.fromkeys(n for r in runs for n in r.params):
        everywhere = Counter(r.params[name] for r in runs if name in r.params)
        on_front = Counter(r.params[name] for r in front if name in r.params)
        out[name] = [(value, everywhere[value], on_front[value]) for value in sorted(everywhere, key=str)]
    return out


def against_full(table: Table, seed: int = 0) -> dict[str, dict[str, float]]:
    """Per pattern: its genotypes' final accuracy minus that of the best full-dense genotype with no
    more parameters (mean, bootstrap 95% interval, share above), over those that have one."""
    runs = [r for r in table.expected() if r.complete and "pattern" in r.params]  # one pattern per genotype
    full = sorted((r for r in runs if r.params["pattern"] == "full"), key=lambda r: r.n_params)
    sizes = np.array([r.n_params for r in full])
    best = np.maximum.accumulate([r.final["val_accuracy"] for r in full]) if full else np.array([])
    rng = np.random.default_rng(seed)
    out = {}
    for pattern in sorted({r.params["pattern"] for r in runs} - {"full"}):
        diffs = []
        for r in runs:
            i = np.searchsorted(sizes, r.n_params, side="right") - 1
            if r.params["pattern"] == pattern and i >= 0:
                diffs.append(r.final["val_accuracy"] - best[i])
        if not diffs:
            continue
        d = np.array(diffs)
        boot = rng.choice(d, (2000, len(d))).mean(1)
        out[pattern] = {"n": len(d), "mean": float(d.mean()), "low": float(np.quantile(boot, 0.025)),
                        "high": float(np.quantile(boot, 0.975)), "above": float((d > 0).mean())}
    return out


def size_adjusted(table: Table) -> dict[str, dict[str, float]]:
    """Per pattern: its final accuracy minus full dense's at equal parameters, on average over the
    space: the pattern's coefficient in a least-squares fit of accuracy on log10(parameters) and the
    pattern, with its 95% interval."""
    runs = [r for r in table.expected() if r.complete and "pattern" in r.params]  # one pattern per genotype
    return pattern_effects([r.n_params for r in runs], [r.params["pattern"] for r in runs],
                           [r.final["val_accuracy"] for r in runs])


def pattern_effects(params: list[int], patterns: list[str], accuracy: list[float]) -> dict[str, dict[str, float]]:
    """:func:`size_adjusted` on any runs: each pattern's coefficient against full dense, with its 95% interval."""
    others = sorted(set(patterns) - {"full"})
    if not patterns:
        return {}
    x = np.array([[1.0, np.log10(n)] + [float(p == o) for o in others] for n, p in zip(params, patterns)])
    y = np.array(accuracy, float)
    dof = len(y) - x.shape[1]
    if dof < 1 or len(others) == len(set(patterns)):  # no full-dense runs to compare with
        return {}
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual = y - x @ coef
    se = np.sqrt(np.diag(residual @ residual / dof * np.linalg.pinv(x.T @ x)))
    t = float(stats.t.ppf(0.975, dof))
    return {p: {"effect": float(coef[2 + i]), "low": float(coef[2 + i] - t * se[2 + i]),
                "high": float(coef[2 + i] + t * se[2 + i])} for i, p in enumerate(others)}


def by_epoch(table: Table) -> list[tuple[int, float, float]]:
    """Per epoch before the last: ``(epoch, ρ, τ)`` of the first runs' validation accuracy then against
    their final one, over the complete runs: how well a cheaper budget (or a scheduler's rung) ranks
    like the full one."""
    runs = [r for r in table.first() if r.complete and len(r.epochs) == table.epochs]
    end = [r.epochs[-1][0] for r in runs]
    out = []
    for e in range(1, table.epochs):
        at = [r.epochs[e - 1][0] for r in runs]
        out.append((e, float(stats.spearmanr(at, end).statistic), float(stats.kendalltau(at, end).statistic)))
    return out


def lines(table: Table) -> list[str]:
    """The data card's figures, as text."""
    setup, build = table.setup, table.build
    first = table.first()
    out = [f"space: search_space={table.space['name']}, {len(table.genotypes)} genotypes "
           f"({sum(r.complete for r in first)} complete), {len(table.runs) - len(first)} trained a second time",
           f"fidelity: {setup['data']} {setup['train_size']:,} training / {setup['val_size']:,} validation images "
           f"(split seed {setup['split_seed']}) at {'×'.join(map(str, setup['image_size']))}, "
           f"{setup['train']['epochs']} epochs, batch {setup['train']['batch_size']}, lr {setup['train']['lr']}, "
           f"train.protocol={setup['train']['protocol']}",
           f"build: {build.get('command', '?')}; {build.get('cpu_seconds', 0) / 3600:.2f} CPU-hours on {build.get('machine', '?')}, "
           f"{build.get('threads', '?')} thread(s)"]
    n = noise(table)
    if n["pairs"] >= 3:
        out.append(f"noise ({n['pairs']} genotypes trained twice): final accuracy differs by {n['mean_abs_difference']:.4f} "
                   f"on average (one run's SD {n['run_sd']:.4f}); Spearman ρ {n['spearman']:.3f}, "
                   f"Kendall τ {n['kendall']:.3f} between the two seeds")
        model = SeedNoise.of(table)
        out.append(f"seed-noise model of the replays ({model.pairs} pairs): one run's final-accuracy SD "
                   f"{model.final_sd():.4f}, its last two epochs' deviations correlated at "
                   f"{model.last_epochs_correlation():.2f}, epoch seconds varying by a factor of "
                   f"e^±{float(np.sqrt(model.seconds_cov[-1, -1])):.3f} (one SD)")
    if table.epochs > 1:
        out.append("ranking after each epoch against the end (first runs): " + "; ".join(
            f"epoch {e}: ρ {rho:.3f}, τ {tau:.3f}" for e, rho, tau in by_epoch(table)))
    front = table.front(OBJECTIVES)
    out.append(f"expected front on {', '.join(OBJECTIVES)}: {len(front)} genotypes")
    for name, rows in composition(table).items():
        out.append(f"  {name:12s} " + "   ".join(f"{v}: {f}/{n}" for v, n, f in rows) + "   (on the front / in the space)")
    for pattern, d in against_full(table).items():
        out.append(f"  {pattern} vs the best full-dense genotype with no more parameters: {d['mean']:+.4f} accuracy "
                   f"(95% CI {d['low']:+.4f} to {d['high']:+.4f}, n={d['n']}); above it in {d['above']:.0%}")
    for pattern, d in size_adjusted(table).items():
        out.append(f"  {pattern} vs full dense at equal parameters (least squares on log10 parameters): "
                   f"{d['effect']:+.4f} accuracy (95% CI {d['low']:+.4f} to {d['high']:+.4f})")
    return out
