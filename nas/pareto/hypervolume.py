"""Exact hypervolume of a minimisation front, in plain numpy.

A study's outputs report the hypervolume after every completed trial, so it has to be exact
(the number is compared across runs) and cheap (it is recomputed hundreds of times):

- d = 1 is a subtraction, d = 2 a sort and one vectorised sweep;
- d = 3 sweeps the points by the third objective while keeping the 2-D staircase of the
  points seen so far, so each point costs a binary search plus the steps it removes;
- d >= 4 is a WFG-style recursion: with the points ordered worst-first on the last
  objective, every later point limited by the current one shares its last coordinate, so
  each exclusive contribution is a (d - 1)-dimensional problem on a small, non-dominated
  filtered set, down to the 3-D sweep;
- :class:`HypervolumeHistory` adds one point's exclusive contribution instead of
  recomputing the whole front.

Everything is minimised. A point counts only if it is strictly better than the reference in
every objective; the others contribute nothing.
"""

from __future__ import annotations

from bisect import bisect_right

import numpy as np

from nas.pareto.dominance import front_of_sorted

__all__ = ["HypervolumeHistory", "contribution", "hypervolume"]

def _as_reference(reference: np.ndarray) -> np.ndarray:
    r = np.asarray(reference, dtype=float)
    if r.ndim != 1 or r.size == 0:
        raise ValueError(f"the reference must be a non-empty 1-D array, not of shape {r.shape}")
    if np.isnan(r).any():
        raise ValueError("the reference contains NaN")
    return r


def _as_points(points: np.ndarray, d: int | None = None) -> np.ndarray:
    p = np.asarray(points, dtype=float)
    if p.size == 0 and d is not None:
        return p.reshape(0, d)
    if p.ndim != 2 or (d is not None and p.shape[1] != d):
        want = f"(n, {d})" if d is not None else "(n, d)"
        raise ValueError(f"points must be an array of shape {want}, not {p.shape}")
    if np.isnan(p).any():
        raise ValueError("points contain NaN")
    return p


def _hv2(s: np.ndarray, r: np.ndarray) -> float:
    """Area of a lexsorted non-dominated 2-D front (x ascending, y strictly descending)."""
    upper = np.empty(s.shape[0])
    upper[0] = r[1]
    upper[1:] = s[:-1, 1]
    return float((r[0] - s[:, 0]) @ (upper - s[:, 1]))


def _hv3(p: np.ndarray, r: np.ndarray) -> float:
    """Volume of 3-D points inside the reference, by a sweep on the third objective.

    Each point, taken in increasing z, adds the area it uncovers in the 2-D staircase of the
    points before it times its height (r_z − z). The staircase is a pair of Python lists
    (x ascending, y strictly descending); dominated and duplicate points are found by one
    binary search and add nothing, so no filtering is needed first.
    """
    rx, ry, rz = r.tolist()
    xs: list[float] = []
    ys: list[float] = []
    vol = 0.0
    for x, y, z in p[np.argsort(p[:, 2], kind="stable")].tolist():
        k = bisect_right(xs, x)
        if k and ys[k - 1] <= y:
            continue  # weakly dominated in (x, y) by a point with a lower or equal z
        s = k
        while s and xs[s - 1] == x:  # same x, larger y: replaced by this point
            s -= 1
        h = ys[s - 1] if s else ry
        left = x
        area = 0.0
        e = s
        m = len(xs)
        while e < m and ys[e] >= y:  # steps this point dominates
            area += (xs[e] - left) * (h - y)
            left = xs[e]
            h = ys[e]
            e += 1
        area += ((xs[e] if e < m else rx) - left) * (h - y)
        xs[s:e] = [x]
        ys[s:e] = [y]
        vol += area * (rz - z)
    return vol


def _hv_limited(p: np.ndarray, r: np.ndarray) -> float:
    """Volume of points inside the reference, not filtered yet, d >= 3 (the WFG inner step)."""
    n, d = p.shape
    if n == 1:
        return float(np.prod(r - p[0]))
    if d == 3:
        return _hv3(p, r)
    if n == 2:
        a, b = p.tolist()
        ra = rb = both = 1.0
        for ri, ai, bi in zip(r.tolist(), a, b):
            ra *= ri - ai
            rb *= ri - bi
            both *= ri - (ai if ai > bi else bi)
        return ra + rb - both
    # Sorted by the sum, a row can only be weakly dominated by an earlier row (monotone
    # rounding keeps that true in floating point up to ties, which the filter tolerates:
    # a missed dominated row costs time, never accuracy).
    s = p[np.argsort(p.sum(axis=1), kind="stable")]
    return _hvn(s[front_of_sorted(s)], r)


def _hvn(s: np.ndarray, r: np.ndarray) -> float:
    """WFG for d >= 4 on non-dominated points inside the reference.

    Ordered worst-first on the last objective, the points after ``s[i]`` limited by it
    (coordinate-wise max) all share its last coordinate, so its exclusive contribution is
    its height times a (d − 1)-dimensional exclusive contribution.
    """
    n = s.shape[0]
    if n == 1:
        return float(np.prod(r - s[0]))
    s = s[np.argsort(-s[:, -1], kind="stable")]
    head = s[:, :-1]
    rh = r[:-1]
    heights = (r[-1] - s[:, -1]).tolist()
    boxes = np.prod(rh - head, axis=1).tolist()
    total = heights[-1] * boxes[-1]
    for i in range(n - 1):
        limited = np.maximum(head[i + 1 :], head[i])
        total += heights[i] * (boxes[i] - _hv_limited(limited, rh))
    return total


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Exact volume dominated by ``points`` (rows, minimised) and bounded by ``reference``.

    Points not strictly better than the reference in every objective are ignored. An
    infinite reference gives ``inf`` as soon as one point counts.
    """
    r = _as_reference(reference)
    p = _as_points(points, r.size)
    p = p[(p < r).all(axis=1)]
    if p.shape[0] == 0:
        return 0.0
    if not (np.isfinite(r).all() and np.isfinite(p).all()):
        return float("inf")
    d = r.size
    if d == 1:
        return float(r[0] - p[:, 0].min())
    if d == 3:
        return _hv3(p, r)  # the sweep skips dominated points and duplicates itself
    s = p[np.lexsort(p.T[::-1])]
    s = s[front_of_sorted(s)]
    if d == 2:
        return _hv2(s, r)
    return _hvn(s, r)


def _exclusive(p: np.ndarray, front: np.ndarray, r: np.ndarray) -> float:
    """Volume ``p`` adds to ``front``; ``p`` is inside ``r`` and no row of ``front`` dominates it."""
    box = float(np.prod(r - p))
    if front.shape[0] == 0:
        return box
    return max(box - hypervolume(np.maximum(front, p), r), 0.0)


def contribution(point: np.ndarray, front: np.ndarray, reference: np.ndarray) -> float:
    """Exclusive hypervolume ``point`` adds to ``front`` (0 if dominated or outside the reference).

    It is the volume of the point's box minus the hypervolume of the front limited to that
    box, so it costs a problem the size of the limited, non-dominated set rather than of the
    whole front: that is what makes an appended hypervolume history cheap.
    """
    r = _as_reference(reference)
    if not np.isfinite(r).all():
        raise ValueError("an exclusive contribution needs a finite reference")
    p = np.asarray(point, dtype=float).reshape(-1)
    if p.size != r.size:
        raise ValueError(f"the point has {p.size} objectives, the reference {r.size}")
    f = _as_points(front, r.size)
    if not (p < r).all() or (f <= p).all(axis=1).any():
        return 0.0
    return _exclusive(p, f, r)


class HypervolumeHistory:
    """Hypervolume of a growing set of points, updated by each point's exclusive contribution.

    ``front`` holds the non-dominated points inside the reference (the only ones that count)
    and ``value`` their hypervolume; ``add`` costs one contribution instead of a recomputation.
    """

    def __init__(self, reference: np.ndarray) -> None:
        self.reference = _as_reference(reference)
        if not np.isfinite(self.reference).all():
            raise ValueError("a hypervolume history needs a finite reference")
        self.front = np.empty((0, self.reference.size))
        self.value = 0.0

    def add(self, point: np.ndarray) -> float:
        """Add one point; returns the hypervolume of every point added so far."""
        p = np.asarray(point, dtype=float).reshape(-1)
        if p.size != self.reference.size:
            raise ValueError(f"the point has {p.size} objectives, the reference {self.reference.size}")
        if np.isnan(p).any():
            raise ValueError("the point contains NaN")
        if not (p < self.reference).all() or (self.front <= p).all(axis=1).any():
            return self.value
        self.value += _exclusive(p, self.front, self.reference)
        self.front = np.vstack([self.front[~(p <= self.front).all(axis=1)], p])
        return self.value
