"""Pareto-rank promotion at a rung (the multi-objective ASHA of Schmucker et al., arXiv 2106.12639).

A rung's trials are ordered by non-dominated sorting of their loss vectors; within a
front, by crowding distance (NSGA-II's, larger first: a trial in a sparse part of the
front is kept over one among near-copies); then by arrival, so that ties go to the trial
that reached the rung first and a decision never depends on anything but the stored
rung results. A trial goes on when it is among the first ``ceil(n / eta)`` of the ``n``
trials at the rung, itself included: alone at a rung it always goes on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nas.study.dominance import front_ranks


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


@dataclass(frozen=True)
class Decision:
    go: bool
    position: int  # 1-based place in the rung's order
    of: int  # trials at the rung, this one included
    kept: int  # how many of them go on: ceil(of / eta)


def decide(own: np.ndarray, earlier: list[np.ndarray], eta: float) -> Decision:
    """Whether the trial with loss vector ``own`` goes on, among the ``earlier`` arrivals at its rung."""
    losses = np.array([*earlier, own], float).reshape(len(earlier) + 1, len(own))
    position = int(np.flatnonzero(pareto_order(losses) == len(earlier))[0]) + 1
    kept = math.ceil(len(losses) / eta)
    return Decision(position <= kept, position, len(losses), kept)
