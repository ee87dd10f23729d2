"""The objectives a study can have: each defined once, with everything the rest of the code asks of it.

An objective's direction turns its values into losses (everything in :mod:`nas.pareto` is
minimised); its fixed range places it on [0, 1] for the hypervolume; and when it becomes known
(:attr:`Objective.known`) decides who can use it: the constraints and the screen use what the
genotype alone gives, the rungs what an epoch gives, and nothing before the end uses what only
the end gives. Adding an objective is one :class:`Objective` here, the code that measures it,
and its test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

# When an objective's value becomes known, in the order a trial learns them.
GENOTYPE = "genotype"  # counted from the genotype, before anything is built (exact)
MODEL = "model"  # timed on the built model, before training when rungs rank on it
EPOCH = "epoch"  # each epoch's validation: what training decides and a screen must predict
THROUGHPUT = "throughput"  # a running measure of training (its mean so far, at a rung)
END = "end"  # known only when training ends


@dataclass(frozen=True)
class Objective:
    """One objective. ``scale`` says how its fixed hypervolume range is read: "accuracy" as
    1 − accuracy on [0, 1]; "linear" and "log" map ``bounds`` to [0, 1] (a value beyond them adds
    no volume). Fixed ranges, not a study's own extremes, keep a hypervolume history appendable
    as a study grows and comparable between studies. ``batch``: the images a latency is timed on."""

    name: str
    direction: str  # "maximize" | "minimize"
    unit: str
    known: str
    integer: bool = False
    scale: str = "log"
    bounds: tuple[float, float] = (0.0, 1.0)
    batch: int | None = None

    @property
    def sign(self) -> float:
        """+1 for a loss, −1 for a gain: value · sign is minimised."""
        return -1.0 if self.direction == "maximize" else 1.0

    def plain(self, value: float) -> float | int:
        """A value as its natural type (counts as int)."""
        return int(value) if self.integer else value

    def unit_interval(self, value: float) -> float:
        """The value on the fixed range, 0 best and 1 at the far end (beyond it: outside [0, 1])."""
        lo, hi = self.bounds
        if self.scale == "accuracy":
            return 1 - value
        if self.scale == "linear":
            x = (value - lo) / (hi - lo)
        else:
            x = (math.log(max(value, 1e-300)) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return 1 - x if self.direction == "maximize" else x


OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    Objective("val_accuracy", "maximize", "fraction", EPOCH, scale="accuracy"),
    Objective("val_loss", "minimize", "nats", EPOCH, scale="linear", bounds=(0.0, 7.0)),  # ln 1000 ≈ 6.9: chance, 1000 classes
    Objective("params", "minimize", "parameters", GENOTYPE, integer=True, bounds=(1e3, 1e9)),
    Objective("macs", "minimize", "multiply-adds per image", GENOTYPE, integer=True, bounds=(1e4, 1e12)),
    Objective("images_per_second", "maximize", "images/s", THROUGHPUT, bounds=(1.0, 1e7)),
    Objective("peak_memory_bytes", "minimize", "bytes", END, integer=True, bounds=(1e5, 1e12)),
    Objective("latency_batch1_ms", "minimize", "ms", MODEL, bounds=(1e-3, 1e5), batch=1),
    Objective("latency_batch_ms", "minimize", "ms", MODEL, bounds=(1e-3, 1e5), batch=256),
)}
LATENCIES = {o.name: o.batch for o in OBJECTIVES.values() if o.known == MODEL}  # objective → its batch size
REFERENCE = 1.0  # the far end of every objective's fixed range, after normalisation


def known(when: str) -> tuple[str, ...]:
    """The objectives that become known at ``when`` (one of the constants above)."""
    return tuple(o.name for o in OBJECTIVES.values() if o.known == when)


def check_objectives(names: Sequence[str] | str) -> list[str]:
    """``names`` as a list of known objectives, each once; ValueError names the problem."""
    if isinstance(names, str):
        raise ValueError(f"objectives={names}: give a list, e.g. objectives=[{names}] or objectives=[{names},params]")
    if not names:
        raise ValueError("objectives is empty; give at least one, e.g. objectives=[val_accuracy,params]")
    unknown = [o for o in names if o not in OBJECTIVES]
    if unknown:
        raise ValueError(f"unknown objective {unknown[0]!r}; choose from {', '.join(OBJECTIVES)}")
    twice = sorted({o for o in names if list(names).count(o) > 1})
    if twice:
        raise ValueError(f"objective {twice[0]!r} is given twice in objectives={list(names)}; name each once")
    return list(names)


def directions(names: Sequence[str]) -> list[str]:
    return [OBJECTIVES[o].direction for o in names]


def plain(objective: str, value: float) -> float | int:
    """An objective value as its natural type (counts as int)."""
    return OBJECTIVES[objective].plain(value)


def losses(values: Sequence[float], objectives: Sequence[str]) -> np.ndarray:
    """Objective values as losses to minimise, in the objectives' own units: the one sign flip."""
    return np.array([OBJECTIVES[o].sign * v for o, v in zip(objectives, values)], float)


def normalised(values: Sequence[float], objectives: Sequence[str]) -> np.ndarray:
    """Objective values on their fixed ranges (0 best, :data:`REFERENCE` at the far end)."""
    return np.array([OBJECTIVES[o].unit_interval(v) for o, v in zip(objectives, values)], float)


def hypervolume_point(values: Sequence[float], objectives: Sequence[str]) -> np.ndarray:
    """The point a trial adds to a hypervolume: normalised, and clipped at 0 (a value better than
    its range's best end counts as that end, so one trial cannot take the volume to infinity)."""
    return np.clip(normalised(values, objectives), 0.0, None)
