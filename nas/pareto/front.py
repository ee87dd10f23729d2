"""A growing Pareto set and its hypervolume, kept up to date one trial at a time."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from nas.pareto.dominance import dominates
from nas.pareto.hypervolume import HypervolumeHistory
from nas.pareto.objectives import REFERENCE, hypervolume_point, losses


class Front:
    """The Pareto set of the trials added so far (equal to Optuna's ``study.best_trials``: ties
    stay on the front), with the hypervolume, on the objectives' fixed ranges, after each one."""

    def __init__(self, objectives: Sequence[str]) -> None:
        self.objectives = list(objectives)
        self.members: dict[int, np.ndarray] = {}  # trial number → losses
        self.hypervolume = HypervolumeHistory(np.full(len(self.objectives), REFERENCE))

    def add(self, number: int, values: Sequence[float]) -> bool:
        """Add a completed trial; True when the front changed."""
        self.hypervolume.add(hypervolume_point(values, self.objectives))
        new = losses(values, self.objectives)
        if any(dominates(old, new) for old in self.members.values()):
            return False
        self.members = {n: old for n, old in self.members.items() if not dominates(new, old)}
        self.members[number] = new
        return True

    @property
    def value(self) -> float:
        return self.hypervolume.value
