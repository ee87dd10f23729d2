"""Brief, honest training: the loop every trial and every retraining runs.

SGD (Nesterov momentum, or schedule-free) under one of the training protocols of
the training protocols of :mod:`nas.training.protocols` (by default ``ema``: a linear warm-up, a linear decay,
and validation of a moving average of the weights), label smoothing, and no weight decay on BN parameters and biases.
On CUDA it trains in bf16 autocast with channels-last tensors and can compile
the model. It never raises for a hopeless run: divergence (loss NaN/inf),
accuracy indistinguishable from chance after the first epoch, a scheduler's
decision to stop it at a rung (:mod:`nas.scheduling.rules`) and out-of-memory
come back as a :class:`TrainResult` with ``status`` and ``reason`` so a search can
record them and go on.
"""

from __future__ import annotations

import enum
import gc
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nas.scheduling.rules import Rule, chance_rule
from nas.training.config import TrainConfig
from nas.training.data import DeviceData
from nas.training.metrics import PeakMemory, PeakRSS
from nas.training.protocols import autocast, protocol_class


class Outcome(str, enum.Enum):
    OK = "ok"
    DIVERGED = "diverged"  # a loss became NaN or infinite
    CHANCE = "chance"  # no better than guessing after the first epoch
    STOPPED = "stopped"  # a scheduler's rung decision: outranked by the trials that reached its rung
    OOM = "oom"  # out of memory, or estimated to exceed the memory cap

    def __str__(self) -> str:
        return self.value


@dataclass
class TrainResult:
    status: Outcome
    reason: str = ""
    val_accuracy: float = float("nan")
    val_loss: float = float("nan")
    train_loss: float = float("nan")
    epochs: int = 0
    train_seconds: float = 0.0
    compile_seconds: float = 0.0  # train.compile: the first compiled step, kept out of train_seconds
    wall_seconds: float = 0.0
    images_per_second: float = 0.0
    peak_memory_bytes: int = 0
    history: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == Outcome.OK

    def to_dict(self) -> dict:
        return {**asdict(self), "status": self.status.value}


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on conv and linear weights only, not on BN parameters and biases."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def evaluate(model: nn.Module, data: DeviceData, cfg: TrainConfig) -> tuple[float, float]:
    """(top-1 accuracy, mean cross-entropy) of ``model`` on ``data``."""
    model.eval()
    correct, loss = torch.zeros((), device=data.device), torch.zeros((), device=data.device, dtype=torch.float64)
    with torch.no_grad(), autocast(data.device, cfg.bf16):
        for x, y in data.eval_batches(cfg.eval_batch_size):
            logits = model(x).float()
            loss += F.cross_entropy(logits, y, reduction="sum").double()
            correct += (logits.argmax(1) == y).sum()
    return correct.item() / len(data), loss.item() / len(data)


COMPILE_BACKEND = "inductor"


def compiled(model: nn.Module) -> nn.Module:
    """``torch.compile(model)`` after clearing Dynamo's caches. Every trial compiles a new model
    through the same ``forward`` code; without the reset, the 9th trial of a worker hits
    Dynamo's recompile limit and trains eager without a word."""
    torch._dynamo.reset()
    return torch.compile(model, backend=COMPILE_BACKEND)


def _warm_up(step_fn: nn.Module, model: nn.Module, train: DeviceData, cfg: TrainConfig, seed: int) -> float:
    """Seconds of one compiled training step (forward and backward) on a batch of ``train``, run
    before the timed epochs so that compilation never counts as training time. The model leaves
    it as it came: gradients cleared, batch-norm statistics restored."""
    device = train.device
    saved = {name: b.clone() for name, b in model.named_buffers()}
    x, y = next(iter(train.train_batches(cfg.batch_size, torch.Generator(device=device).manual_seed(seed + 1))))
    model.train()  # the mode the epochs run in: no recompilation when they start
    start = time.perf_counter()
    with autocast(device, cfg.bf16):
        loss = F.cross_entropy(step_fn(x).float(), y)
    loss.backward()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        for name, b in model.named_buffers():
            b.copy_(saved[name])
    return seconds


def free_memory(device: torch.device) -> None:
    """Give back what an out-of-memory failure left: the traceback's tensors, CUDA's cache."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def is_oom(e: BaseException) -> bool:
    return isinstance(e, torch.OutOfMemoryError) or (isinstance(e, RuntimeError) and (
        "out of memory" in str(e) or "not enough memory" in str(e) or "can't allocate memory" in str(e)))


def fit(model: nn.Module, train: DeviceData, val: DeviceData, cfg: TrainConfig, *, num_classes: int,
        seed: int = 0, rules: Sequence[Rule] = ()) -> TrainResult:
    """Train ``model`` on ``train`` and judge it on ``val``; never raises for bad runs. After each
    epoch but the last, the chance guard (``cfg.stop_at_chance``) and then ``rules`` may stop it."""
    device = train.device
    cfg = cfg.on(device)
    start = time.perf_counter()
    result = TrainResult(status=Outcome.OK)
    # Peak memory of training beyond what was allocated before (the dataset, for one):
    # the CUDA allocator's peak on a GPU, the process's resident-set peak on a CPU.
    memory = PeakMemory(device) if device.type == "cuda" else PeakRSS()
    oom = ""
    try:
        with memory:
            _fit(model, train, val, cfg, seed, result, _rules(cfg, num_classes, len(val), rules))
    except Exception as e:  # noqa: BLE001 - only out-of-memory is turned into a result
        if not is_oom(e):
            raise
        oom = str(e).splitlines()[0][:200]
    if oom:  # outside the except block, so the traceback's tensors can be freed now
        result.status, result.reason = Outcome.OOM, f"out of memory on {device.type}: {oom}"
        free_memory(device)
    result.wall_seconds = time.perf_counter() - start
    result.peak_memory_bytes = memory.bytes
    return result


def _rules(cfg: TrainConfig, num_classes: int, n_val: int, rules: Sequence[Rule]) -> list[Rule]:
    return [*([chance_rule(num_classes, n_val)] if cfg.stop_at_chance else []), *rules]


def _fit(model: nn.Module, train: DeviceData, val: DeviceData, cfg: TrainConfig, seed: int, result: TrainResult,
         rules: list[Rule]) -> None:
    device = train.device
    model = model.to(device, memory_format=torch.channels_last if cfg.channels_last else torch.preserve_format)
    step_fn = model
    if cfg.compile:
        step_fn = compiled(model)
        result.compile_seconds = _warm_up(step_fn, model, train, cfg, seed)
    steps_per_epoch = max(1, len(train) // cfg.batch_size)
    protocol = protocol_class(cfg.protocol)(model, param_groups(model, cfg.weight_decay), cfg, steps_per_epoch,
                                            train, seed)
    g = torch.Generator(device=device).manual_seed(seed)
    check_every = 1 if device.type == "cpu" else 25  # a finiteness check syncs the GPU

    from tqdm.auto import tqdm

    images = 0
    for epoch in range(1, cfg.epochs + 1):
        if epoch > 1:
            protocol.resume()
        model.train()
        t0, c0 = time.perf_counter(), time.process_time()
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        steps = epoch_images = 0
        bar = tqdm(train.train_batches(cfg.batch_size, g), total=steps_per_epoch, disable=not cfg.progress,
                   desc=f"epoch {epoch}/{cfg.epochs}", leave=False, file=sys.stderr)
        for x, y in bar:
            with autocast(device, cfg.bf16):
                loss = F.cross_entropy(step_fn(x).float(), y, label_smoothing=cfg.label_smoothing)
            protocol.opt.zero_grad(set_to_none=True)
            loss.backward()
            protocol.step()
            loss_sum += loss.detach()
            steps += 1
            epoch_images += len(y)
            if steps % check_every == 0 and not torch.isfinite(loss_sum):
                break
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
        result.train_seconds += seconds
        images += epoch_images
        result.epochs = epoch
        result.train_loss = loss_sum.item() / max(1, steps)
        if not math.isfinite(result.train_loss):
            result.status, result.reason = Outcome.DIVERGED, f"training loss became {result.train_loss} in epoch {epoch}"
            break
        protocol.opt.zero_grad(set_to_none=True)  # no gradients held while the judged weights are prepared
        t1 = time.perf_counter()
        protocol.judge()
        result.val_accuracy, result.val_loss = evaluate(model, val, cfg)
        # judge_seconds: judging and validating; cpu_seconds: the whole epoch's CPU time, which on a CPU
        # device does not grow when other processes share the cores (the tabular benchmark's clock)
        result.history.append({"epoch": epoch, "train_loss": result.train_loss, "val_loss": result.val_loss,
                               "val_accuracy": result.val_accuracy, "lr": protocol.last_lr,
                               "seconds": seconds, "images_per_second": epoch_images / seconds,
                               "judge_seconds": time.perf_counter() - t1, "cpu_seconds": time.process_time() - c0})
        if cfg.progress:
            print(f"epoch {epoch}/{cfg.epochs}: train loss {result.train_loss:.4f}  val loss {result.val_loss:.4f}  "
                  f"val acc {result.val_accuracy:.4f}  ({seconds:.1f}s)", file=sys.stderr)
        if not math.isfinite(result.val_loss):
            result.status, result.reason = Outcome.DIVERGED, f"validation loss became {result.val_loss} after epoch {epoch}"
            break
        stop = next(filter(None, (rule(epoch, result.history[-1]) for rule in rules)), None) \
            if epoch < cfg.epochs else None
        if stop is not None:
            result.status = Outcome.CHANCE if stop.hopeless else Outcome.STOPPED
            result.reason = stop.reason
            break
    result.images_per_second = images / result.train_seconds if result.train_seconds else 0.0
