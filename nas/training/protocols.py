"""Training protocols: how the weights move, and which weights an epoch's validation judges.

A scheduler (``scheduler=asha``/``hyperband``) ranks a trial on the accuracy it has at a
rung. Read in the middle of a one-cycle schedule, at a high learning rate, that accuracy
ranks architectures poorly (on the multi-fidelity benchmark's setting, epoch 1 of 6 ranks
them at Spearman ρ 0.41 against their end, a finished 1-epoch run at 0.84). The protocols
beside ``onecycle`` and ``cosine`` make every epoch a rung may read a finished model:

- ``rung_cycles``: warm restarts (SGDR, Loshchilov & Hutter, ICLR 2017) whose cycles end
  exactly at the rungs, each cycle a warm-up and a linear decay (the one-cycle shape; linear
  decay to zero suits fixed budgets, Li et al., "Budgeted Training", ICLR 2020). A rung reads
  weights at the learning-rate minimum, like a finished short run, and a trial that goes on
  keeps its weights. Under a scheduler the cycles end at the trial's rungs (its Hyperband
  bracket's own); elsewhere at ``train.cycle_ends`` (default: asha's default rungs).
- ``schedule_free``: schedule-free SGD (Defazio et al., NeurIPS 2024, the ``schedulefree``
  package): its averaged iterate is judged, good at every step with no schedule to align.
- ``ema``: one-cycle SGD, judged on an exponential moving average of the weights whose half-life
  follows the learning rate: ``train.ema_half_life`` epochs at the peak, shorter as the rate
  decays, none at the end of the schedule. A rung in mid-run reads an average (smoother than the
  weights at a high rate); a finished run is judged on its trained weights with their own
  batch-norm statistics, exactly as ``onecycle`` judges them, so the average never costs final
  accuracy. ``train.ema_follows_lr=false`` keeps the half-life fixed, as ``ema`` did before (and as
  the tabular benchmark was trained); averaging over the last quarter epoch of a short run then
  mixes in weights from before the decay had finished.

``ema`` is the default (``conf/train/default.yaml``): on ``benchmarks/protocols.py`` every other
protocol's rungs ranked better than ``onecycle``'s and about alike, ``ema``'s final accuracy
matched ``onecycle``'s, and its learning curve does not depend on where rungs fall.

The averaged weights of ``schedule_free`` and ``ema`` never ran through the network in
training mode, so their batch-norm statistics are recomputed (:func:`recompute_bn`) before
they are judged; the model a run returns holds the weights that were judged last.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import math
from typing import TYPE_CHECKING, Iterator

import torch
from torch import nn

from nas.training.data import DeviceData

if TYPE_CHECKING:
    from nas.training.trainer import TrainConfig

SCHEDULES = ("onecycle", "cosine", "rung_cycles", "schedule_free", "ema")
AVERAGED = ("schedule_free", "ema")  # judged on averaged weights, their BN statistics recomputed (ema's
# last epoch excepted, where the average has become the weights)
BN_IMAGES = 2048  # training images whose batch statistics a recomputation averages (the averaged
# weights' statistics settle within a few batches; a whole epoch would cost a third of one more)


def lr_factor(step: int, total: int, warmup: float, schedule: str) -> float:
    """Multiplier of the peak learning rate at ``step`` of a cycle of ``total`` steps: a linear
    warm-up over ``warmup`` of them, then a linear (one-cycle) or cosine decay towards zero."""
    warm = max(1, round(warmup * total)) if warmup > 0 else 0
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    return max(0.0, 1 - progress)


def cycle_steps(cycle_ends: list[int], epochs: int, steps_per_epoch: int) -> list[int]:
    """The step at which each cycle ends (exclusive), the last one at the end of training."""
    return [e * steps_per_epoch for e in [*cycle_ends, epochs]]


def cycle_factor(step: int, ends: list[int], warmup: float) -> float:
    """:func:`lr_factor` within the cycle (of those ending at the steps ``ends``) that holds ``step``:
    every cycle warms up and decays to its minimum at its last step."""
    c = bisect.bisect_right(ends, step)
    start = ends[c - 1] if c else 0
    return lr_factor(step - start, ends[min(c, len(ends) - 1)] - start, warmup, "onecycle")


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


class Protocol:
    """One run's optimizer and learning-rate schedule, and the weights each validation judges.

    ``step()`` follows every backward pass; ``judge()`` puts the weights to validate into the
    model before an evaluation, ``resume()`` the training weights back before the next epoch.
    A run that ends (or is stopped) after an evaluation leaves the judged weights in the model."""

    def __init__(self, model: nn.Module, groups: list[dict], cfg: TrainConfig, steps_per_epoch: int,
                 train: DeviceData, seed: int) -> None:
        self.cfg = cfg
        self.steps = 0
        self.last_lr = 0.0  # the learning rate of the last step taken
        self.total = cfg.epochs * steps_per_epoch
        self.model = model
        self._train = train
        self._bn_generator = torch.Generator(device=train.device).manual_seed(seed + 2)
        self.average: list[torch.Tensor] = []  # ema: the moving average, in the order of self._params
        self._params = [p for p in model.parameters()]
        self._saved: dict[str, torch.Tensor] = {}
        if cfg.schedule == "schedule_free":
            import schedulefree

            # Its learning rate is the step of the sequence z, which heavy-ball momentum would have
            # scaled by 1/(1 - momentum): the same factor matches train.lr (and train.nesterov has
            # no meaning here). 1× and 3× it trained worse on the benchmark's setting.
            self.opt = schedulefree.SGDScheduleFree(groups, lr=cfg.lr / (1 - cfg.momentum), momentum=cfg.momentum,
                                                    warmup_steps=round(cfg.warmup * self.total))
            self.opt.train()
            return
        self.opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
        if cfg.schedule == "rung_cycles":
            ends = cycle_steps(cfg.cycles(), cfg.epochs, steps_per_epoch)
            factor = lambda s: cycle_factor(s, ends, cfg.warmup)  # noqa: E731
        else:  # onecycle, cosine, and ema's underlying schedule (one cycle)
            shape = "onecycle" if cfg.schedule == "ema" else cfg.schedule
            factor = lambda s: lr_factor(s, self.total, cfg.warmup, shape)  # noqa: E731
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, factor)
        if cfg.schedule == "ema":
            self.half_life = cfg.ema_half_life * steps_per_epoch  # in steps (at the peak learning rate)
            self.average = [p.detach().clone() for p in self._params]
            self.at_weights = False  # the average is the weights (the schedule has ended)

    def step(self) -> None:
        group = self.opt.param_groups[0]
        if self.cfg.schedule == "schedule_free":
            self.opt.step()
            self.last_lr = float(group["scheduled_lr"])
            return
        self.last_lr = float(group["lr"])
        self.opt.step()
        self.sched.step()
        self.steps += 1
        if self.average:
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
        if self.cfg.schedule not in AVERAGED or (self.average and self.at_weights):
            return  # judged as trained: the weights and their running batch-norm statistics
        if self.cfg.schedule == "schedule_free":
            self.opt.eval()  # the parameters become the averaged iterate x
        else:
            with torch.no_grad():
                self._saved = {n: t.detach().clone() for n, t in self.model.state_dict().items()}
                torch._foreach_copy_(self._params, self.average)
        batches = self._train.train_batches(self.cfg.batch_size, self._bn_generator)
        n = max(1, math.ceil(min(BN_IMAGES, len(self._train)) / self.cfg.batch_size))
        device = self._train.device
        # In training mode dropout draws from torch's generator: fork it, so that judging never
        # changes how training goes on (ema trains exactly as onecycle does).
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            recompute_bn(self.model, itertools.islice(batches, n), autocast(device, self.cfg.bf16))

    def resume(self) -> None:
        if self.cfg.schedule == "schedule_free":
            self.opt.train()
        elif self._saved:
            with torch.no_grad():
                for n, t in self.model.state_dict().items():
                    t.copy_(self._saved[n])
            self._saved = {}


def autocast(device: torch.device, bf16: bool):
    """The training precision's context: bf16 autocast, or none."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
