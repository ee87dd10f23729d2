"""The unit of work of a trial: build, count and train one genotype on prepared data.

``python -m nas.train``, every search trial and the proxy check all go through
:func:`train_genotype`, so a genotype trained by any of them is trained the same way.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import torch

from nas.genotype import Genotype
from nas.models import build_model, check_input_size
from nas.scheduling.rules import Rule
from nas.training.config import TrainConfig
from nas.training.data import DeviceData, PreparedData
from nas.training.environment import environment
from nas.training.memory import estimate_training_bytes, fit_batch, memory_cap
from nas.training.metrics import count
from nas.training.protocols import protocol_class
from nas.training.trainer import Outcome, TrainResult, evaluate, fit


def resolve_device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cuda", "cpu"):  # mps, xpu, …: the trainer is written for these two
        raise ValueError(f"device={spec!r}: use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={spec!r}: this machine has no CUDA GPU; use device=cpu (or auto)")
    return device


def measure(genotype: Genotype, data: PreparedData, *,
            memory_efficient: bool = False) -> tuple[torch.nn.Module, int, int]:
    """``(meta model, parameters, multiply-adds)`` for ``data``'s images and classes: a constraint
    or memory check never allocates the model it may rule out."""
    check_input_size(genotype, data.image_size, hint="; set data.image_size")
    return count(genotype, num_classes=data.num_classes, in_channels=data.in_channels, image_size=data.image_size,
                 memory_efficient=memory_efficient)


def build(genotype: Genotype, data: PreparedData, *, seed: int, memory_efficient: bool = False) -> torch.nn.Module:
    """The seeded model for ``data``, its weights allocated."""
    torch.manual_seed(seed)
    return build_model(genotype, num_classes=data.num_classes, in_channels=data.in_channels,
                       memory_efficient=memory_efficient)


def train_genotype(genotype: Genotype, data: PreparedData, cfg: TrainConfig, *, seed: int,
                   test: DeviceData | None = None, rules: Sequence[Rule] = (),
                   measured: tuple[torch.nn.Module, int, int] | None = None) -> tuple[torch.nn.Module | None, dict[str, Any]]:
    """Count (unless ``measured`` by :func:`measure`), build and train one genotype — unless its
    training would not fit in memory (:func:`fit_in_memory`): then nothing is allocated and
    the model returned is None. ``rules`` may stop it after an epoch (:func:`nas.training.trainer.fit`)."""
    meta, params, macs = measured or measure(genotype, data, memory_efficient=cfg.memory_efficient)
    requested = cfg.batch_size
    cfg, estimate, cap, refusal = fit_in_memory(meta, data, cfg)
    model = None if refusal else build(genotype, data, seed=seed, memory_efficient=cfg.memory_efficient)
    result = TrainResult(Outcome.OOM, refusal) if refusal else fit(model, data.train, data.val, cfg,
                                                                   num_classes=data.num_classes, seed=seed,
                                                                   rules=rules)
    if result.ok and cfg.batch_size != requested:
        result.reason = (f"trained at batch {cfg.batch_size} and lr {cfg.lr:g}: batch {requested} was estimated over "
                         "the memory cap (train.shrink_batch=true)")
    out = {"genotype": genotype.name, "genotype_id": genotype.id, **result.to_dict(), "params": params, "macs": macs,
           "memory_estimate_bytes": estimate, "memory_cap_bytes": cap, "batch_size": cfg.batch_size, "device": str(data.train.device),
           "train_images": len(data.train), "val_images": len(data.val), "seed": seed,
           "environment": environment(data.train.device)}
    if test is not None and result.status in (Outcome.OK, Outcome.CHANCE):  # a model that ran to the end
        out["test_accuracy"], out["test_loss"] = evaluate(model, test, cfg.on(data.train.device))
    return model, out


def fit_in_memory(model: torch.nn.Module, data: PreparedData,
                  cfg: TrainConfig) -> tuple[TrainConfig, int, int, str]:
    """``(cfg, estimated bytes, cap, why not)``: the training settings that fit under the memory cap
    (the batch halved if ``cfg.shrink_batch`` allows it), or the reason the trial must not train.

    A trial that would exhaust the machine's memory takes the whole study down with it (on a
    CPU, the kernel's OOM killer); refused here, it is one ``oom`` result among others.
    """
    device = data.train.device
    on = cfg.on(device)
    limit = None if cfg.memory_limit_gb is None else int(cfg.memory_limit_gb * 2**30)
    cap = memory_cap(cfg.memory_fraction, device, limit)

    def estimate(batch: int) -> int:
        return estimate_training_bytes(model, batch_size=batch, image_size=data.image_size,
                                       in_channels=data.in_channels, num_classes=data.num_classes, device=device,
                                       bf16=on.bf16, channels_last=on.channels_last, averaged=protocol_class(cfg.protocol).keeps_average)

    need = estimate(cfg.batch_size)
    if need <= cap:
        return cfg, need, cap, ""
    if cfg.shrink_batch:
        batch = fit_batch(estimate, cfg.batch_size, cap)
        if batch is not None:  # the learning rate follows the batch (the linear scaling rule)
            smaller = dataclasses.replace(cfg, batch_size=batch, lr=cfg.lr * batch / cfg.batch_size)
            return smaller, estimate(batch), cap, ""
    where = (f"train.memory_limit_gb={cfg.memory_limit_gb:g}" if limit is not None else
             f"train.memory_fraction={cfg.memory_fraction:g} of the {_gib(cap / cfg.memory_fraction)} available")
    return cfg, need, cap, (f"training at batch {cfg.batch_size} needs an estimated {_gib(need)} on {device.type}, over the "
                       f"cap of {_gib(cap)} ({where}); not trained — lower train.batch_size, set "
                       "train.memory_efficient=true or train.shrink_batch=true")


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"
