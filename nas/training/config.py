"""The training settings (``conf/train/*.yaml``): one checked dataclass, read by the trainer and
its protocols."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass

import torch

from nas.checks import boolean, number, require, whole
from nas.scheduling.schedulers import ASHA
from nas.training.protocols import protocol_class


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 256
    lr: float = 0.4
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    warmup: float = 0.15
    protocol: str = "ema"  # nas.training.protocols.PROTOCOLS
    cycle_ends: list[int] | None = None  # rung_cycles: epochs where a cycle ends (null: 1, 3, 9, …)
    ema_half_life: float = 0.25  # ema: the average's half-life, in epochs (at the peak learning rate)
    ema_follows_lr: bool = True  # ema: the half-life follows the learning rate to none at the end; false: fixed
    eval_batch_size: int = 512
    bf16: bool | None = None
    channels_last: bool | None = None
    compile: bool = False
    memory_efficient: bool = False
    stop_at_chance: bool = True
    progress: bool | None = None
    memory_fraction: float = 0.8
    memory_limit_gb: float | None = None
    shrink_batch: bool = False

    def __post_init__(self) -> None:
        auto = ("bf16", "channels_last", "progress")  # null: decided per device
        checks = {"epochs": whole(1), "batch_size": whole(1), "eval_batch_size": whole(1),
                  "lr": number(lambda v: v > 0, "must be > 0"),
                  "momentum": number(lambda v: 0 <= v < 1, "must be in [0, 1)"),
                  "weight_decay": number(lambda v: v >= 0, "must be ≥ 0"),
                  "warmup": number(lambda v: 0 <= v < 1, "the warm-up fraction must be in [0, 1)"),
                  "ema_half_life": number(lambda v: v > 0, "must be > 0 (epochs)"),
                  "label_smoothing": number(lambda v: 0 <= v < 1, "must be in [0, 1)"),
                  "memory_fraction": number(lambda v: 0 < v <= 1, "the share of the available memory a trial "
                                                                  "may use must be in (0, 1]"),
                  "memory_limit_gb": number(lambda v: v > 0, "must be > 0, or null to use train.memory_fraction "
                                                             "of the available memory", optional=True),
                  **{name: boolean for name in ("nesterov", "compile", "memory_efficient", "stop_at_chance",
                                                "shrink_batch", "ema_follows_lr")},
                  **{name: lambda v: "" if v is None else boolean(v) for name in auto}}
        for name, check in checks.items():
            require(f"train.{name}", getattr(self, name), check)
        if self.compile and self.memory_efficient:
            raise ValueError("train.compile=true with train.memory_efficient=true: the compiled graph stores every "
                             "layer's concatenation again, so memory grows with depth squared; choose one of them")
        protocol_class(self.protocol).check(self)
        self._check_cycle_ends()
        if self.nesterov and self.momentum == 0:
            raise ValueError("train.momentum=0 with train.nesterov=true: Nesterov needs momentum; "
                             "set train.nesterov=false or a momentum > 0")

    def _check_cycle_ends(self) -> None:
        ends = self.cycle_ends
        if ends is None:
            return
        if (not isinstance(ends, (list, tuple)) or any(isinstance(e, bool) or not isinstance(e, int) for e in ends)
                or list(ends) != sorted(set(ends)) or any(not 1 <= e < self.epochs for e in ends)):
            where = (f"increasing whole numbers in [1, {self.epochs - 1}]" if self.epochs > 1 else
                     "none, since one epoch has no rung")
            raise ValueError(f"train.cycle_ends={ends}: the epochs where a cycle ends before the last, {where} "
                             f"(train.epochs={self.epochs}), e.g. [1,3] or [] for one cycle")
        self.cycle_ends = list(ends)

    def cycles(self) -> list[int]:
        """The epochs where rung_cycles ends a cycle before the last epoch: ``cycle_ends``, or by
        default rungs at 1, 3, 9, … epochs (min_epochs 1, eta 3)."""
        if self.cycle_ends is not None:
            return list(self.cycle_ends)
        return ASHA(min_epochs=1, max_epochs=self.epochs).levels() if self.epochs > 1 else []

    def for_rungs(self, rungs: list[int]) -> TrainConfig:
        """The settings of a trial a scheduler ranks at ``rungs`` (rung_cycles ends its cycles there)."""
        return protocol_class(self.protocol).for_rungs(self, rungs)

    def on(self, device: torch.device) -> TrainConfig:
        """Resolve the ``None`` (auto) settings for a device: bf16 on CUDA; channels-last
        everywhere (oneDNN's CPU convolutions are faster in it too)."""
        cuda = device.type == "cuda"
        return TrainConfig(**{**asdict(self),
                              "bf16": cuda if self.bf16 is None else self.bf16,
                              "channels_last": True if self.channels_last is None else self.channels_last,
                              "progress": sys.stderr.isatty() if self.progress is None else self.progress})
