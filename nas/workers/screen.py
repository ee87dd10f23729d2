"""The screen: each trial draws several candidates from the sampler and trains the one expected
to add most to the front.

Before training, a candidate's parameters and multiply-adds are known exactly, and its zero-cost
proxies (:mod:`nas.training.zero_cost`) cost a fraction of a second. The screen predicts the one
objective that needs training (validation accuracy or loss) from those features — a least-squares
fit on the study's completed trials, with its residual spread as the uncertainty — and trains the
candidate with the largest expected hypervolume improvement over the study's front: so a screen by
size alone (``screen=size``) and one by size and proxies (``screen=zero_cost``) differ exactly in
what the proxies add beyond size. Candidates not trained are told to the sampler as pruned
(:data:`~nas.study.record.Status.SCREENED`), so it learns where not to draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from nas.checks import require, whole
from nas.pareto.hypervolume import HypervolumeHistory, contribution
from nas.pareto.objectives import EPOCH, GENOTYPE, REFERENCE, hypervolume_point, known
from nas.study.search_settings import Screen
from nas.training.zero_cost import NAMES

SCREENS = ("none", "size", "zero_cost")
KNOWN = known(GENOTYPE)  # objectives known before training
PREDICTED = known(EPOCH)  # the objective a screen predicts (one per study)
QUANTILES = [NormalDist().inv_cdf((i + 0.5) / 16) for i in range(16)]  # the predictive distribution, evenly


def screen_config(cfg: Any, objectives: list[str]) -> Screen:
    """The ``screen`` group of a search config, checked against the study's objectives."""
    values = dict(cfg)
    unknown = sorted(set(values) - {"name", "candidates", "by"})
    if unknown:
        raise ValueError(f"screen.{unknown[0]} is not a setting; screen has by, candidates, name")
    name = values.get("name", "none")
    if name not in SCREENS:
        raise ValueError(f"screen={name}: choose one of {', '.join(SCREENS)}")
    if name == "none":
        return Screen()
    require("screen.candidates", values.get("candidates"), whole(2), show=str,
            hint=" (the candidates drawn per trial, of which one is trained)")
    by = values.get("by") or []
    if isinstance(by, str):
        by = [by]
    if not isinstance(by, list):
        raise ValueError(f"screen.by={by!r}: give a list of proxies, e.g. screen.by=[nn_mass]")
    bad = [b for b in by if b not in NAMES]
    if bad:
        raise ValueError(f"screen.by: unknown proxy {bad[0]!r}; choose among {', '.join(NAMES)}")
    if name == "zero_cost" and not by:
        raise ValueError("screen=zero_cost needs proxies to rank by, e.g. screen.by=[nn_mass]; "
                         "screen=size ranks by size alone")
    if name == "size" and by:
        raise ValueError(f"screen=size ranks by size alone; for proxies use screen=zero_cost screen.by=[{','.join(by)}]")
    predicted = [o for o in objectives if o not in KNOWN]
    unknown = [o for o in predicted if o not in PREDICTED]
    if unknown:
        raise ValueError(f"screen={name}: objective {unknown[0]} is not known before training, and the screen "
                         f"predicts only {' or '.join(PREDICTED)}; drop it from objectives, or use screen=none")
    if len(predicted) != 1:
        raise ValueError(f"screen={name} ranks on one predicted objective ({' or '.join(PREDICTED)}); objectives="
                         f"[{','.join(objectives)}] has {len(predicted) or 'none'}: keep one, or use screen=none")
    return Screen(name, int(values["candidates"]), tuple(dict.fromkeys(by)))


@dataclass
class Candidate:
    """What is known of a drawn genotype before training."""

    trial: int
    params: int
    macs: int
    proxies: dict[str, float | None]
    genotype_id: str = ""


@dataclass
class Choice:
    chosen: int  # index into the candidates
    gains: list[float]  # expected hypervolume improvement per candidate
    reason: str


def features(screen: Screen, pool: list[Candidate]) -> np.ndarray:
    """One row per candidate: log10 parameters and MACs, then each proxy as its rank in the pool
    (scaled to [0, 1]; proxies span dozens of orders of magnitude) with a missing one at the middle
    and flagged in a column of its own."""
    cols = [np.log10([max(c.params, 1) for c in pool]), np.log10([max(c.macs, 1) for c in pool])]
    for name in screen.by:
        values = np.array([np.nan if c.proxies.get(name) is None else c.proxies[name] for c in pool], float)
        known = ~np.isnan(values)
        ranks = np.full(len(pool), 0.5)
        if known.sum() > 1:
            order = values[known].argsort().argsort()
            ranks[known] = order / (known.sum() - 1)
        cols.append(ranks)
        if not known.all():
            cols.append((~known).astype(float))
    return np.column_stack(cols)


def choose(screen: Screen, objectives: list[str], trained: list[tuple[Candidate, list[float]]],
           candidates: list[Candidate]) -> Choice:
    """The candidate with the largest expected hypervolume improvement over the front of ``trained``
    (completed trials and their objective values, at least ``screen.min_trained``); the first (the
    sampler's own draw) when no candidate is expected to improve the front."""
    target = next(o for o in objectives if o not in KNOWN)
    x = features(screen, [c for c, _ in trained] + candidates)
    x = np.column_stack([np.ones(len(x)), x])
    fit_x, cand_x = x[:len(trained)], x[len(trained):]
    y = np.array([values[objectives.index(target)] for _, values in trained])
    scale = fit_x.std(0)
    scale[scale == 0] = 1.0
    a = fit_x / scale
    gram = a.T @ a + 1e-6 * len(a) * np.eye(a.shape[1])  # a touch of ridge: a constant column is harmless
    coef = np.linalg.solve(gram, a.T @ y)
    dof = max(len(y) - a.shape[1], 1)
    sigma = math.sqrt(float(((a @ coef - y) ** 2).sum()) / dof)
    front = HypervolumeHistory(np.full(len(objectives), REFERENCE))
    for _, values in trained:
        front.add(hypervolume_point(values, objectives))
    gains = []
    for c, row in zip(candidates, cand_x / scale):
        mean = float(row @ coef)
        spread = sigma * math.sqrt(1 + float(row @ np.linalg.solve(gram, row)))
        total = 0.0
        for q in QUANTILES:
            values = [mean + spread * q if o == target else float(getattr(c, o)) for o in objectives]
            total += contribution(hypervolume_point(values, objectives), front.front, front.reference)
        gains.append(total / len(QUANTILES))
    best = int(np.argmax(gains))
    if gains[best] <= 0:
        return Choice(0, gains, "the sampler's draw: no candidate is expected to add to the front")
    return Choice(best, gains, f"expected hypervolume gain {gains[best]:.3g}, the largest of {len(candidates)}")
