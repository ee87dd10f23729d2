"""Pareto-rank promotion at a rung (the multi-objective ASHA of Schmucker et al., arXiv 2106.12639).

A rung's trials are put in Pareto order (:func:`nas.pareto.ranking.pareto_order`: front, crowding
distance, arrival), so ties go to the trial that reached the rung first and a decision never
depends on anything but the stored rung results. A trial goes on when it is among the first
``ceil(n / eta)`` of the ``n`` trials at the rung, itself included: alone at a rung it always goes on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nas.pareto.ranking import pareto_order


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
