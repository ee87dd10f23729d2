"""A total order of trials by Pareto rank: non-dominated sorting, then crowding distance, then arrival.

Within a front, NSGA-II's crowding distance puts a trial in a sparse part of the front before one
among near-copies; ties then go to the row that came first, so an order never depends on anything
but the losses and their order. Multi-objective ASHA promotes by it (Schmucker et al., arXiv 2106.12639).
"""

from __future__ import annotations

import numpy as np

from nas.pareto.dominance import front_ranks


def crowding(losses: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each row within one front (the extremes: infinite)."""
    n, m = losses.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(m):
        order = np.argsort(losses[:, k], kind="stable")  # ties at the near end: the earliest row first
        span = losses[order[-1], k] - losses[order[0], k]
        if span == 0:  # a constant objective tells no row apart
            continue
        far = losses[order, k] == losses[order[-1], k]
        order[far] = order[far][::-1]  # ties at the far end: the earliest row last, so it takes that end
        distance[order[0]] = distance[order[-1]] = np.inf
        distance[order[1:-1]] += (losses[order[2:], k] - losses[order[:-2], k]) / span
    return distance


def pareto_order(losses: np.ndarray) -> np.ndarray:
    """Row indices best first: front, then crowding distance (larger first), then row (arrival) order."""
    losses = np.asarray(losses, float)
    ranks = front_ranks(losses)
    crowd = np.zeros(len(losses))
    for r in np.unique(ranks):
        members = np.flatnonzero(ranks == r)
        crowd[members] = crowding(losses[members])
    return np.lexsort((np.arange(len(losses)), -crowd, ranks))
