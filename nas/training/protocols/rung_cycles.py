"""``rung_cycles``: warm restarts (SGDR, Loshchilov & Hutter, ICLR 2017) whose cycles end exactly at
the rungs, each cycle a warm-up and a linear decay (the one-cycle shape).

A rung reads weights at the learning-rate minimum, like a finished short run, and a trial that
goes on keeps its weights. Under a scheduler the cycles end at the trial's rungs (its Hyperband
bracket's own, :meth:`RungCycles.for_rungs`); elsewhere at ``train.cycle_ends`` (default: asha's
default rungs, 1, 3, 9, … epochs).
"""

from __future__ import annotations

import bisect
from dataclasses import replace
from typing import Any

from torch import nn

from nas.training.data import DeviceData
from nas.training.protocols.protocol import TrainingProtocol, TrainSettings, lr_factor


class RungCycles(TrainingProtocol):
    name = "rung_cycles"

    def __init__(self, model: nn.Module, groups: list[dict], cfg: TrainSettings, steps_per_epoch: int,
                 train: DeviceData, seed: int) -> None:
        self.ends = cycle_steps(cfg.cycles(), cfg.epochs, steps_per_epoch)  # the factor reads them from step 0
        super().__init__(model, groups, cfg, steps_per_epoch, train, seed)

    def factor(self, step: int) -> float:
        return cycle_factor(step, self.ends, self.cfg.warmup)

    @classmethod
    def check(cls, cfg: TrainSettings) -> None:
        pass  # every cycle_ends the settings accept

    @classmethod
    def for_rungs(cls, cfg: Any, rungs: list[int]) -> Any:
        return replace(cfg, cycle_ends=list(rungs))


def cycle_steps(cycle_ends: list[int], epochs: int, steps_per_epoch: int) -> list[int]:
    """The step at which each cycle ends (exclusive), the last one at the end of training."""
    return [e * steps_per_epoch for e in [*cycle_ends, epochs]]


def cycle_factor(step: int, ends: list[int], warmup: float) -> float:
    """:func:`lr_factor` within the cycle (of those ending at the steps ``ends``) that holds ``step``:
    every cycle warms up and decays to its minimum at its last step."""
    c = bisect.bisect_right(ends, step)
    start = ends[c - 1] if c else 0
    return lr_factor(step - start, ends[min(c, len(ends) - 1)] - start, warmup, "onecycle")


