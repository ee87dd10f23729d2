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

import itertools
import math
from types import ModuleType
from typing import Any

from nas.genotype import Genotype
from search_spaces import cliquenet, dense_connectivity, dense_grid

SPACES: dict[str, ModuleType] = {"dense_connectivity": dense_connectivity, "cliquenet": cliquenet,
                                 "dense_grid": dense_grid}


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


def genotype_ids(space: ModuleType, cfg: Any, limit: int = 20_000) -> frozenset[str] | None:
    """Every genotype an enumerable space makes (several parameter sets may make one); None when the
    space cannot be enumerated or has more than ``limit`` parameter sets."""
    if not hasattr(space, "grid"):
        return None
    grid = space.grid(cfg)
    if math.prod(len(v) for v in grid.values()) > limit:
        return None
    return frozenset(genotype_from_params(space, cfg, dict(zip(grid, combo))).id
                     for combo in itertools.product(*grid.values()))


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


class _ChoiceTrial:
    """Answers ``suggest_*`` from chosen values (the first option where none is chosen)
    and records every parameter's options."""

    def __init__(self, chosen: dict[str, Any]) -> None:
        self.chosen = chosen
        self.options: dict[str, list] = {}

    def _pick(self, name: str, options: list) -> Any:
        self.options[name] = options
        value = self.chosen.get(name, options[0])
        return value if value in options else options[0]

    def suggest_int(self, name: str, low: int, high: int, step: int = 1) -> int:
        return self._pick(name, list(range(low, high + 1, step)))

    def suggest_categorical(self, name: str, choices: list) -> Any:
        return self._pick(name, list(choices))


def smallest(space: ModuleType, cfg: Any, metric: str, num_classes: int, in_channels: int,
             image_size: tuple[int, int]) -> tuple[Genotype, int]:
    """The space's genotype with the fewest ``metric`` ("params" or "macs"), by coordinate
    descent over its parameters (exact when the metric grows monotonically with each
    parameter, as layer counts, widths and connections make it)."""
    from nas.training.metrics import count

    def measure(chosen: dict[str, Any]) -> tuple[float, Genotype | None, dict[str, list]]:
        trial = _ChoiceTrial(chosen)
        genotype = space.suggest(trial, cfg)
        try:
            _, params, macs = count(genotype, num_classes=num_classes, in_channels=in_channels, image_size=image_size)
            value = params if metric == "params" else macs
        except ValueError:  # a genotype the data cannot feed (too small an image)
            return float("inf"), None, trial.options
        return value, genotype, trial.options

    chosen: dict[str, Any] = {}
    best, genotype, options = measure(chosen)
    for _ in range(3):
        improved = False
        for name in list(options):
            for value in options.get(name, []):
                candidate = {**chosen, name: value}
                size, g, opts = measure(candidate)
                if size < best:
                    best, genotype, options, chosen, improved = size, g, opts, candidate, True
        if not improved:
            break
    if genotype is None:
        raise ValueError(f"no genotype of search_space={cfg.name} can be built for {image_size[0]}×{image_size[1]} "
                         "images; set data.image_size")
    return genotype, int(best)
