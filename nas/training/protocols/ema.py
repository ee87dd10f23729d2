"""``ema``: one-cycle SGD, judged on an exponential moving average of the weights.

The average's half-life follows the learning rate: ``train.ema_half_life`` epochs at the peak,
shorter as the rate decays, none at the end of the schedule. A rung in mid-run reads an average
(smoother than the weights at a high rate); a finished run is judged on its trained weights with
their own batch-norm statistics, exactly as ``onecycle`` judges them, so the average never costs
final accuracy. ``train.ema_follows_lr=false`` keeps the half-life fixed, as ``ema`` did before
(and as the tabular benchmark was trained); averaging over the last quarter epoch of a short run
then mixes in weights from before the decay had finished.

The average never ran through the network in training mode, so its batch-norm statistics are
recomputed before it is judged.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.training.data import DeviceData
from nas.training.protocols.onecycle import OneCycle
from nas.training.protocols.protocol import TrainSettings


class Ema(OneCycle):
    name = "ema"
    keeps_average = True

    def __init__(self, model: nn.Module, groups: list[dict], cfg: TrainSettings, steps_per_epoch: int,
                 train: DeviceData, seed: int) -> None:
        super().__init__(model, groups, cfg, steps_per_epoch, train, seed)
        self._params = list(model.parameters())
        self._saved: dict[str, torch.Tensor] = {}
        self.half_life = cfg.ema_half_life * steps_per_epoch  # in steps (at the peak learning rate)
        self.average = [p.detach().clone() for p in self._params]  # in the order of self._params
        self.at_weights = False  # the average is the weights (the schedule has ended)

    def step(self) -> None:
        super().step()
        self._follow()

    def _follow(self) -> None:
        """Move the average towards the weights, with a half-life proportional to the learning rate
        the weights move with next (0 once the schedule has ended: the average becomes the weights)."""
        if self.cfg.ema_follows_lr:
            half_life = self.half_life * self.opt.param_groups[0]["lr"] / self.sched.base_lrs[0]
            decay = 0.5 ** (1 / half_life) if half_life > 0 else 0.0
        else:  # train.ema_follows_lr=false: a fixed half-life (of at least a step), as before issue 28
            decay = 0.5 ** (1 / max(1.0, self.half_life))
        # warm start: the average forgets the initialisation in the first steps
        decay = min(decay, (1 + self.steps) / (10 + self.steps))
        with torch.no_grad():
            if decay == 0.0:
                torch._foreach_copy_(self.average, self._params)
            else:
                torch._foreach_lerp_(self.average, self._params, 1 - decay)
        self.at_weights = decay == 0.0

    def judge(self) -> None:
        if self.at_weights:
            return  # judged as trained: the weights and their running batch-norm statistics
        with torch.no_grad():
            self._saved = {n: t.detach().clone() for n, t in self.model.state_dict().items()}
            torch._foreach_copy_(self._params, self.average)
        self.recompute_bn()

    def resume(self) -> None:
        if self._saved:
            with torch.no_grad():
                for n, t in self.model.state_dict().items():
                    t.copy_(self._saved[n])
            self._saved = {}
