"""How well the zero-cost proxies a study recorded rank its own trained trials, beyond their size.

A proxy earns a screen only if it knows something the parameter count does not (README, "Zero-cost
proxies on our space"); the partial rank correlation given log-parameters is that knowledge, measured
on the user's space and fidelity rather than on a published benchmark.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from nas.study.record import TrialRecord

MIN_TRIALS = 10  # fewer trained trials than this say nothing about a ranking


def partial_spearman(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    """Spearman ρ of x and y with the rank of z regressed out of both."""
    rx, ry, rz = (stats.rankdata(v) for v in (x, y, z))
    design = np.column_stack([np.ones_like(rz), rz])
    res = [r - design @ np.linalg.lstsq(design, r, rcond=None)[0] for r in (rx, ry)]
    return float(np.corrcoef(*res)[0, 1])


def proxy_ranking(records: list[TrialRecord], target: str = "val_accuracy") -> list[dict[str, Any]]:
    """Per recorded proxy (and the parameter count, for reference), over the completed trials that have
    it: trials, Spearman ρ with ``target``, partial ρ given log-parameters, median seconds."""
    done = [r for r in records if r.metrics.get(target) is not None and r.metrics.get("params")]
    names = list(dict.fromkeys(n for r in done for n in r.proxies))
    rows = []
    for name in ["params", *names]:
        have = [r for r in done if name == "params" or (r.proxies.get(name) or {}).get("value") is not None]
        if len(have) < MIN_TRIALS:
            continue
        score = np.array([r.metrics["params"] if name == "params" else r.proxies[name]["value"] for r in have], float)
        y = np.array([r.metrics[target] for r in have], float)
        size = np.log(np.array([r.metrics["params"] for r in have], float))
        rho = stats.spearmanr(score, y).statistic
        rows.append({"proxy": name, "trials": len(have), "rho": None if math.isnan(rho) else float(rho),
                     "partial_rho": None if name == "params" else partial_spearman(score, y, size),
                     "seconds": 0.0 if name == "params" else float(np.median([r.proxies[name]["seconds"]
                                                                               for r in have]))})
    return rows
