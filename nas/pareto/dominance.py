"""Pareto dominance, in one place: every front, rung order and hypervolume of a study is computed here.

Everything is minimised: objective values are turned into losses first
(:func:`nas.pareto.objectives.losses`, or :func:`signed` from a study's directions). ``a``
dominates ``b`` when it is no worse everywhere and better somewhere; a front keeps ties
(as Optuna's ``best_trials`` does). The hypervolume needs weak dominance instead, where a
duplicate adds nothing (:func:`weakly_nondominated`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """Loss vector ``a`` is no worse than ``b`` everywhere and better somewhere."""
    return bool(np.all(a <= b) and np.any(a < b))


CHUNK = 1024  # rows compared at once


def front_ranks(losses: np.ndarray) -> np.ndarray:
    """The non-dominated front (0 = best) of each row of ``losses`` (n × objectives, minimised).
    Memory: one n × n boolean matrix (10,000 trials at a rung: 100 MB)."""
    n = len(losses)
    dominates = np.empty((n, n), bool)  # [j, i]: j dominates i
    for lo in range(0, n, CHUNK):
        rows = losses[lo:lo + CHUNK]
        no_worse = np.ones((len(rows), n), bool)
        better = np.zeros((len(rows), n), bool)
        for k in range(losses.shape[1]):  # objective by objective: no n × n × objectives temporaries
            no_worse &= rows[:, k, None] <= losses[None, :, k]
            better |= rows[:, k, None] < losses[None, :, k]
        dominates[lo:lo + CHUNK] = no_worse & better
    dominators = dominates.sum(0)  # of each row, those not yet placed in a front
    ranks = np.full(n, -1)
    left = np.ones(n, bool)
    rank = 0
    while left.any():
        front = left & (dominators == 0)
        ranks[front] = rank
        left &= ~front
        dominators -= dominates[front].sum(0)
        rank += 1
    return ranks


# Below this many elements (rows² × objectives) the weak-dominance filter compares all pairs in
# one numpy expression; above it, a loop over the front keeps memory linear.
_PAIRWISE_LIMIT = 1 << 18


def front_of_sorted(s: np.ndarray) -> np.ndarray:
    """Mask of the rows of ``s`` that no other row weakly dominates, first duplicate kept.

    ``s`` must be in an order where a row can only be weakly dominated by an earlier row or
    by an equal one (lexicographic order, or sorted by the sum of coordinates): that makes
    every test one-sided.
    """
    n, d = s.shape
    if n <= 1:
        return np.ones(n, dtype=bool)
    if d == 1:
        keep = np.zeros(n, dtype=bool)
        keep[0] = True
        return keep
    if d == 2:
        # Lexicographic order: a row is kept iff its y is below every earlier y.
        y = s[:, 1]
        keep = np.empty(n, dtype=bool)
        keep[0] = True
        keep[1:] = y[1:] < np.minimum.accumulate(y)[:-1]
        return keep
    if n * n * d <= _PAIRWISE_LIMIT:
        weakly = (s[:, None, :] <= s[None, :, :]).all(axis=2)  # [j, i]: j weakly dominates i
        return ~np.triu(weakly, 1).any(axis=0)
    # The first remaining row is never dominated; drop everything it weakly dominates.
    keep = np.zeros(n, dtype=bool)
    rest = np.arange(n)
    while rest.size:
        top = rest[0]
        keep[top] = True
        rest = rest[(s[rest] < s[top]).any(axis=1)]
    return keep


def weakly_nondominated(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows no other row weakly dominates (of duplicates, the first).

    Weak dominance (``<=`` everywhere) is what matters for the hypervolume: a duplicate or
    a point with a tie adds no volume, so it is dropped as well.
    """
    p = np.asarray(points, dtype=float)
    if p.ndim != 2:
        raise ValueError(f"points must be an array of shape (n, d), not {p.shape}")
    keep = np.zeros(p.shape[0], dtype=bool)
    if p.shape[0] == 0:
        return keep
    order = np.lexsort(p.T[::-1])  # stable: equal rows stay in their original order
    keep[order[front_of_sorted(p[order])]] = True
    return keep


def on_front(losses: np.ndarray) -> np.ndarray:
    """Mask of the rows no other row dominates (ties all stay)."""
    losses = np.asarray(losses, float)
    return front_ranks(losses) == 0 if len(losses) else np.zeros(0, bool)


def signed(values: Sequence[Sequence[float]], directions: Sequence[StudyDirection]) -> np.ndarray:
    """Objective values as losses, by a study's directions."""
    sign = np.array([-1.0 if d == StudyDirection.MAXIMIZE else 1.0 for d in directions])
    return sign * np.array(values, float).reshape(len(values), len(directions))


def best_trials(trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection]) -> list[FrozenTrial]:
    """The completed trials on the Pareto front (what Optuna's ``study.best_trials`` means)."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    mask = on_front(signed([t.values for t in complete], directions))
    return [t for t, keep in zip(complete, mask) if keep]
