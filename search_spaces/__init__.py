"""Search spaces: each module turns an Optuna trial into a Genotype.

A space module has ``suggest(trial, cfg) -> Genotype`` (deterministic in the
trial's parameters, so any trial's model can be rebuilt from the study storage
alone, e.g. with ``optuna.trial.FixedTrial(trial.params)``), ``validate(cfg)``
and ``encode(genotype, cfg) -> params | None`` (the parameters that make
``suggest`` return that genotype, or None when the space cannot express it — used
to enqueue the published presets as baselines).
Parameter names are hierarchical and stable: ``block1.layers``, ``block1.pattern``,
``block1.m`` …; ranges come from ``conf/search_space/<name>.yaml``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from nas.genotype import Genotype
from search_spaces import cliquenet, dense_connectivity

SPACES: dict[str, ModuleType] = {"dense_connectivity": dense_connectivity, "cliquenet": cliquenet}


def get(name: str) -> ModuleType:
    if name not in SPACES:
        raise ValueError(f"unknown search space {name!r}; choose one of {', '.join(SPACES)}")
    return SPACES[name]


class _ReplayTrial:
    """Answers ``suggest_*`` from fixed parameters, refusing values outside the ranges
    asked for — unlike Optuna's FixedTrial, which only warns."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    def _value(self, name: str) -> Any:
        if name not in self.params:
            raise KeyError(name)
        return self.params[name]

    def suggest_int(self, name: str, low: int, high: int, step: int = 1) -> int:
        value = self._value(name)
        if not (low <= value <= high and (value - low) % step == 0):
            raise ValueError(f"{name}={value} outside [{low}, {high}] step {step}")
        return value

    def suggest_categorical(self, name: str, choices: list) -> Any:
        value = self._value(name)
        if value not in choices:
            raise ValueError(f"{name}={value!r} not among {choices}")
        return value


def genotype_from_params(space: ModuleType, cfg: Any, params: dict[str, Any]) -> Genotype:
    """Rebuild a trial's genotype from its stored parameters."""
    return space.suggest(_ReplayTrial(params), cfg)


def baseline_params(space: ModuleType, cfg: Any, genotypes: dict[str, Genotype]) -> dict[str, dict[str, Any]]:
    """Parameters of the given genotypes (e.g. the presets) that lie inside the space."""
    inside = {}
    for name, genotype in genotypes.items():
        params = space.encode(genotype, cfg)
        if params is None:
            continue
        try:
            if genotype_from_params(space, cfg, params) == genotype:
                inside[name] = params
        except (KeyError, ValueError):
            continue
    return inside
