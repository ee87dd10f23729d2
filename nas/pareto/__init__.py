"""Pareto math, on the ground floor: objectives and their signs, dominance, fronts, ranks and the
exact hypervolume. It imports nothing else of this project, so the multi-fidelity rules, the
study, the tables and the analysis all rank by the same definitions."""

from nas.pareto.dominance import best_trials, dominates, front_ranks, on_front, signed, weakly_nondominated
from nas.pareto.front import Front
from nas.pareto.hypervolume import HypervolumeHistory, contribution, hypervolume
from nas.pareto.objectives import (
                                   OBJECTIVES,
                                   REFERENCE,
                                   Objective,
                                   check_objectives,
                                   directions,
                                   hypervolume_point,
                                   losses,
                                   normalised,
                                   plain,
)
from nas.pareto.ranking import crowding, pareto_order

__all__ = ["OBJECTIVES", "REFERENCE", "Front", "HypervolumeHistory", "Objective", "best_trials", "check_objectives",
           "contribution", "crowding", "directions", "dominates", "front_ranks", "hypervolume", "hypervolume_point",
           "losses", "normalised", "on_front", "pareto_order", "plain", "signed", "weakly_nondominated"]
