"""What every training protocol shares: SGD, a learning-rate factor per step, and the hooks that
choose which weights an epoch's validation judges.

A protocol is one small class (a subclass of :class:`TrainingProtocol`) in a module of its own,
listed in :data:`nas.training.protocols.PROTOCOLS` under the name ``train.protocol`` gives it.
``step()`` follows every backward pass; ``judge()`` puts the weights to validate into the model
before an evaluation, ``resume()`` the training weights back before the next epoch. A run that
ends (or is stopped) after an evaluation leaves the judged weights in the model.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from typing import Any, ClassVar, Iterator, Protocol

import torch
from torch import nn

from nas.training.data import DeviceData

BN_IMAGES = 2048  # training images whose batch statistics a recomputation averages (the averaged
# weights' statistics settle within a few batches; a whole epoch would cost a third of one more)


class TrainSettings(Protocol):
    """What a protocol reads of the training settings (:class:`nas.training.config.TrainConfig`)."""

    epochs: int
    batch_size: int
    lr: float
    momentum: float
    nesterov: bool
    warmup: float
    bf16: bool | None
    cycle_ends: list[int] | None
    ema_half_life: float
    ema_follows_lr: bool

    def cycles(self) -> list[int]: ...


def lr_factor(step: int, total: int, warmup: float, shape: str) -> float:
    """Multiplier of the peak learning rate at ``step`` of a cycle of ``total`` steps: a linear
    warm-up over ``warmup`` of them, then a linear (one-cycle) or cosine decay towards zero."""
    warm = max(1, round(warmup * total)) if warmup > 0 else 0
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    if shape == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    return max(0.0, 1 - progress)


@torch.no_grad()
def recompute_bn(model: nn.Module, batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
                 precision: contextlib.AbstractContextManager) -> None:
    """Batch-norm running statistics of ``model``'s current weights: the mean of the statistics of
    ``batches`` (as ``torch.optim.swa_utils.update_bn`` does, but in the training ``precision``)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
    was_training = model.training
    model.train()
    with precision:
        for x, _ in batches:
            model(x)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.train(was_training)


def autocast(device: torch.device, bf16: bool | None):
    """The training precision's context: bf16 autocast, or none."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


class TrainingProtocol:
    """SGD (Nesterov momentum) with the learning rate ``lr · factor(step)``, judged on the trained weights."""

    name: ClassVar[str]
    keeps_average: ClassVar[bool] = False  # holds a moving average: a second copy of the weights in memory

    def __init__(self, model: nn.Module, groups: list[dict], cfg: TrainSettings, steps_per_epoch: int,
                 train: DeviceData, seed: int) -> None:
        self.cfg = cfg
        self.steps = 0
        self.last_lr = 0.0  # the learning rate of the last step taken
        self.total = cfg.epochs * steps_per_epoch
        self.model = model
        self._train = train
        self._bn_generator = torch.Generator(device=train.device).manual_seed(seed + 2)
        self.opt = self.optimizer(groups)
        self.sched = self.lr_scheduler()

    def optimizer(self, groups: list[dict]) -> torch.optim.Optimizer:
        cfg = self.cfg
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)

    def lr_scheduler(self) -> torch.optim.lr_scheduler.LRScheduler | None:
        return torch.optim.lr_scheduler.LambdaLR(self.opt, self.factor)

    def factor(self, step: int) -> float:
        """The learning rate's multiplier at ``step``."""
        raise NotImplementedError

    def step(self) -> None:
        self.last_lr = float(self.opt.param_groups[0]["lr"])
        self.opt.step()
        self.sched.step()
        self.steps += 1

    def judge(self) -> None:
        """Put the weights an evaluation judges into the model (here: they are there)."""

    def resume(self) -> None:
        """Put the training weights back before the next epoch."""

    def recompute_bn(self) -> None:
        """Batch-norm statistics for weights that never ran through the network in training mode."""
        batches = self._train.train_batches(self.cfg.batch_size, self._bn_generator)
        n = max(1, math.ceil(min(BN_IMAGES, len(self._train)) / self.cfg.batch_size))
        device = self._train.device
        # In training mode dropout draws from torch's generator: fork it, so that judging never
        # changes how training goes on (ema trains exactly as onecycle does).
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            recompute_bn(self.model, itertools.islice(batches, n), autocast(device, self.cfg.bf16))

    @classmethod
    def check(cls, cfg: TrainSettings) -> None:
        """Refuse settings this protocol cannot run with, in one line (ValueError)."""
        if cfg.cycle_ends:  # [] (one cycle) is what every protocol but rung_cycles does
            raise ValueError(f"train.cycle_ends={cfg.cycle_ends} with train.protocol={cls.name}: only rung_cycles "
                             "restarts its learning rate; set train.protocol=rung_cycles or leave cycle_ends null")

    @classmethod
    def for_rungs(cls, cfg: Any, rungs: list[int]) -> Any:
        """The settings of a trial a scheduler ranks at ``rungs`` (most protocols ignore them)."""
        return cfg
