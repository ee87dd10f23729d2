"""Will a trial's training fit in memory? Estimate it before training, not after the crash.

A search samples architectures whose training memory spans orders of magnitude
(DenseNet-BC-100 at batch 256 reaches 15.8 GB resident on a CPU; a wide sample can
need terabytes). Running one that does not fit takes the whole machine down with
the OOM killer instead of recording one failed trial. So before a trial trains,
:func:`estimate_training_bytes` predicts the peak of one training step and the
search compares it with :func:`memory_cap`; a trial over the cap is recorded as
``oom`` without running.

The estimate runs forward, backward and the loss on PyTorch's ``meta`` device:
every op computes only its output's shape, so no activation is ever allocated
and the cost does not depend on the batch size or the width of the model. A
dispatch mode records every storage the pass creates and when it is freed; the
peak of that timeline is the activation memory, to which the parameters,
gradients, momentum buffers and the SGD step's temporary are added. Models meta
cannot run fall back to a real step at two tiny batches, extrapolated linearly.

What the allocator holds beyond the live tensors is not visible that way (glibc
fragmentation and oneDNN scratch on the CPU, the caching allocator's reserve and
cuDNN workspaces on CUDA), so the live-tensor peak is scaled by a factor per
device and a fixed allowance added, calibrated against measured peaks by
``benchmarks/memory_estimate.py``.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nas.training.metrics import StorageTimeline, meta_copy

# Resident memory of a CPU training run ≈ CPU_OVERHEAD × live tensor bytes +
# CPU_ALLOWANCE. The process holds more than its live tensors: glibc keeps freed
# chunks it cannot reuse for differently sized activations (the commands tell it to
# keep freed memory: nas.runtime), oneDNN keeps reorder buffers and kernels, and the
# first convolution touches library pages. Calibrated by benchmarks/memory_estimate.py
# (fresh process, 3 trainer steps, peak RSS ÷ live bytes): 1.12–1.16 at batch 256 and
# 1.38–1.54 at batch 64 for DenseNet-BC-100, DenseNet-40, CliqueNet and a
# separable-conv model; 1.40–3.58 for memory-efficient ones, whose backward frees and
# re-allocates wide tensors layer by layer (0.7–1.2 GiB beyond the live bytes: hence
# the allowance; a tiny model has 0.2–0.3 GiB). The heap grows over a run: +20 % by
# step 30 for memory-efficient DenseNet-40 at 64 (flat from 30 to 100 steps), and
# DenseNet-BC-100 at 256 reached 15.8 GB over a full run, 1.76× its 8.35 GiB live.
# 2.0 and 768 MiB keep the estimate ≥ 1.25× every 3-step peak and ≥ 1.1× those
# long-run peaks; a smaller factor would not cover the 1.76.
CPU_OVERHEAD = 2.0
CPU_ALLOWANCE = 768 * 2**20
# CUDA: the caching allocator reserves 10–30 % more than it hands out (block
# rounding, fragmentation between differently sized activations) and cuDNN
# convolutions take workspace; the CUDA context itself is outside what
# :func:`available_bytes` reports. Not calibrated on a GPU yet: rerun the benchmark
# with ``--device cuda`` (it measures the allocator's peak there).
CUDA_OVERHEAD = 1.3
CUDA_ALLOWANCE = 512 * 2**20

# Batches of the real-device fallback: tiny, and two of them for the slope. Batch 1
# would fail batch norm where a block sees a 1×1 feature map.
_FALLBACK_BATCHES = (2, 4)


def overhead(device: torch.device | str) -> tuple[float, int]:
    """(factor, allowance bytes) between live tensor bytes and what ``device`` really uses."""
    return (CUDA_OVERHEAD, CUDA_ALLOWANCE) if torch.device(device).type == "cuda" else (CPU_OVERHEAD, CPU_ALLOWANCE)


# ---- the estimate ----------------------------------------------------------------------------


def estimate_training_bytes(model: nn.Module, *, batch_size: int, image_size: tuple[int, int] | int,
                            in_channels: int, num_classes: int, device: torch.device | str, bf16: bool,
                            channels_last: bool, averaged: bool = False) -> int:
    """Peak memory one training step of ``model`` at ``batch_size`` on ``device`` needs beyond
    what is already allocated (the dataset): forward, backward and an SGD step with momentum,
    with the allocator's overhead (:data:`CPU_OVERHEAD`, :data:`CUDA_OVERHEAD`). ``averaged``: the
    protocol keeps an average of the weights beside them, one more copy of the trainable parameters
    (``ema``; ``schedule_free``'s second sequence takes the place of the momentum buffer, already counted).

    ``model`` is left untouched and may live anywhere; build giant candidates under
    ``with torch.device("meta"):`` so that not even their parameters are allocated.
    """
    factor, allowance = overhead(device)
    live = live_tensor_peak(model, batch_size=batch_size, image_size=image_size, in_channels=in_channels,
                            num_classes=num_classes, device=device, bf16=bf16, channels_last=channels_last)
    if averaged:
        live += _state_bytes(model)[1]
    return math.ceil(factor * live) + allowance


def live_tensor_peak(model: nn.Module, *, batch_size: int, image_size: tuple[int, int] | int,
                     in_channels: int, num_classes: int, device: torch.device | str, bf16: bool,
                     channels_last: bool, method: str = "auto") -> int:
    """Peak bytes of live tensors in one training step, without allocator overhead.

    ``method``: ``meta`` (no allocation), ``real`` (a step at two tiny batches on
    ``device``, extrapolated), ``auto`` (meta, else real).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: must be ≥ 1")
    if method not in ("auto", "meta", "real"):
        raise ValueError(f"method={method!r}: use auto, meta or real")
    device = torch.device(device)
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    step = dict(image_size=size, in_channels=in_channels, num_classes=num_classes, bf16=bf16,
                channels_last=channels_last)
    state, trainable = _state_bytes(model)
    # During the backward pass: the model's state, last step's momentum buffers, the
    # gradients (counted whole from the start, as they grow while activations shrink) and
    # the activations. During the SGD step: the activations are gone, but weight decay
    # makes a gradient-sized temporary (torch.optim.SGD, foreach).
    fixed = state + trainable + trainable
    if method != "real":
        try:
            activations = _meta_step(model, batch_size, **step)
            if bf16:  # autocast keeps a bf16 copy of every weight for the step
                activations += trainable // 2
            return fixed + max(activations, trainable)
        except (NotImplementedError, RuntimeError, TypeError) as e:
            if method == "meta":
                raise
            warnings.warn(f"meta device cannot run this model ({str(e).splitlines()[0][:200]}); "
                          f"estimating its memory from a real step at batches {_FALLBACK_BATCHES}", stacklevel=2)
    b1, b2 = _FALLBACK_BATCHES
    a1, a2 = (_real_step(model, b, device, **step) for b in (b1, b2))
    activations = max(a2, a1 + (batch_size - b1) * (a2 - a1) / (b2 - b1))
    return fixed + max(math.ceil(activations), trainable)


def _state_bytes(model: nn.Module) -> tuple[int, int]:
    """(bytes of parameters and buffers, bytes of the trainable parameters)."""
    params = list(model.parameters())
    state = sum(t.numel() * t.element_size() for t in [*params, *model.buffers()])
    trainable = sum(p.numel() * p.element_size() for p in params if p.requires_grad)
    return state, trainable


def _run_step(model: nn.Module, batch: int, device: torch.device, image_size: tuple[int, int],
              in_channels: int, num_classes: int, channels_last: bool, autocast_device: str | None,
              model_dtype: torch.dtype | None = None) -> int:
    """Forward, loss and backward of ``model`` (already on ``device``) under a timeline;
    returns the peak bytes of what the step allocated, gradients left out."""
    model.train()
    for p in model.parameters():
        p.grad = None
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    params = list(model.parameters())
    with torch.enable_grad(), StorageTimeline([*params, *model.buffers()]) as timeline:
        x = torch.randn(batch, in_channels, *image_size, device=device).contiguous(memory_format=fmt)
        y = torch.randint(0, num_classes, (batch,), device=device)
        ctx = torch.autocast(autocast_device, dtype=torch.bfloat16) if autocast_device else contextlib.nullcontext()
        with ctx:
            logits = model(x if model_dtype is None else x.to(model_dtype)).float()
        loss = F.cross_entropy(logits, y, label_smoothing=0.1)
        del logits
        loss.backward()
        del loss, x, y
    grads = {timeline.allocation(p.grad) for p in params if p.grad is not None}
    return timeline.peak(grads - {None})


def _meta_step(model: nn.Module, batch: int, *, bf16: bool, channels_last: bool, **step) -> int:
    """The step on the meta device. Autocast does not act on meta tensors, so bf16 is
    modelled by a bf16 copy of the model: activations and their gradients in bf16."""
    meta = meta_copy(model)
    if bf16:
        meta = meta.to(torch.bfloat16)
    if channels_last:
        meta = meta.to(memory_format=torch.channels_last)
    return _run_step(meta, batch, torch.device("meta"), channels_last=channels_last, autocast_device=None,
                     model_dtype=torch.bfloat16 if bf16 else None, **step)


def _real_step(model: nn.Module, batch: int, device: torch.device, *, bf16: bool, channels_last: bool,
               **step) -> int:
    """The step for real at a tiny batch, on a copy (the caller's model keeps its BN
    statistics and gradients) and with the random state restored afterwards."""
    if any(t.is_meta for t in [*model.parameters(), *model.buffers()]):
        state, _ = _state_bytes(model)
        if state > available_bytes(device) // 4:
            raise RuntimeError("the meta device cannot run this model and its parameters are too large to "
                               "materialise for a trial step")
        real = copy.deepcopy(model).to_empty(device=device)
        for t in [*real.parameters(), *real.buffers()]:
            with torch.no_grad():
                t.normal_(0, 0.01) if t.is_floating_point() else t.zero_()
    else:
        real = copy.deepcopy(model).to(device)
    if channels_last:
        real = real.to(memory_format=torch.channels_last)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        return _run_step(real, batch, device, channels_last=channels_last,
                         autocast_device=device.type if bf16 else None, **step)


# ---- what the process may use ------------------------------------------------------------------


def available_bytes(device: torch.device | str) -> int:
    """Memory this process may still allocate on ``device``.

    CUDA: the driver's free memory plus what PyTorch's cache holds but no tensor
    uses (the tensors already allocated, e.g. the dataset, are not available), within
    this process's share of the GPU where workers share one. CPU:
    the smaller of the kernel's MemAvailable and the room left under a cgroup
    memory limit (containers, SLURM), where one is set.
    """
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        free, total = torch.cuda.mem_get_info(index)
        room = free + torch.cuda.memory_reserved(index) - torch.cuda.memory_allocated(index)
        # this worker's share of a GPU it shares (gpu_memory_share); older PyTorch cannot report it
        share = getattr(torch.cuda, "get_per_process_memory_fraction", lambda i: 1.0)(index)
        return min(room, int(share * total) - torch.cuda.memory_allocated(index))
    candidates = [b for b in (_meminfo_available(), _cgroup_room()) if b is not None]
    if candidates:
        return min(candidates)
    return _portable_available()


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max": no limit


def _stat(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _cgroup_dirs(root: Path, relative: str) -> list[Path]:
    """The process's cgroup and its ancestors under ``root`` (a limit anywhere above applies)."""
    dirs, path = [], Path(relative.lstrip("/"))
    while True:
        d = root / path
        if d.is_dir():
            dirs.append(d)
        if path == Path("."):
            return dirs
        path = path.parent


def _cgroup_room() -> int | None:
    """Smallest (limit − usage) over the process's cgroups, v2 and v1; page cache that the
    kernel would reclaim (inactive files) counts as room. None where no limit is set."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        lines = []
    v2 = v1 = "/"
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            v2 = path
        elif "memory" in controllers.split(","):
            v1 = path
    rooms = []
    for d in _cgroup_dirs(Path("/sys/fs/cgroup"), v2):
        limit, usage = _read_int(d / "memory.max"), _read_int(d / "memory.current")
        if limit is not None and usage is not None:
            rooms.append(limit - usage + _stat(d / "memory.stat", "inactive_file"))
    for d in _cgroup_dirs(Path("/sys/fs/cgroup/memory"), v1):
        limit, usage = _read_int(d / "memory.limit_in_bytes"), _read_int(d / "memory.usage_in_bytes")
        if limit is not None and usage is not None and limit < 2**60:  # ~2^63: unlimited
            rooms.append(limit - usage + _stat(d / "memory.stat", "total_inactive_file"))
    return max(0, min(rooms)) if rooms else None


def _portable_available() -> int:
    """Off Linux: psutil where installed, else what sysconf knows (free, then total pages)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    for name in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
        try:
            return os.sysconf(name) * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            continue
    warnings.warn("cannot tell how much memory is available on this system; no memory cap applies",
                  stacklevel=3)
    return sys.maxsize


def neighbour_may_hold(device: torch.device, share: float) -> bool:
    """After an out-of-memory error on a GPU this worker shares: True when this process had
    reserved well under its share, so that other workers held the memory it lacked (a retry may
    fit); False when it filled its own share (the model does not fit, whoever else is there)."""
    if device.type != "cuda":
        return False
    index = device.index if device.index is not None else torch.cuda.current_device()
    _, total = torch.cuda.mem_get_info(index)
    return torch.cuda.max_memory_reserved(index) < 0.9 * share * total


def memory_cap(fraction: float, device: torch.device | str, limit_bytes: int | None = None) -> int:
    """The most a trial may use: ``limit_bytes`` if given, else ``fraction`` of what is
    available now (a fraction < 1 leaves room for the rest of the machine and the estimate's
    error)."""
    if limit_bytes is not None:
        if limit_bytes < 1:
            raise ValueError(f"limit_bytes={limit_bytes}: must be ≥ 1")
        return int(limit_bytes)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction}: must be in (0, 1]")
    return int(fraction * available_bytes(device))


def fit_batch(estimate_fn: Callable[[int], int], batch_size: int, cap: int, min_batch: int = 8) -> int | None:
    """Largest of ``batch_size``, ``batch_size // 2``, … (not below ``min_batch``) whose
    ``estimate_fn(batch)`` fits in ``cap``; None if none does. Halving keeps the batch a
    power-of-two multiple of the configured one, as learning-rate scaling assumes."""
    batch = batch_size
    while True:
        if estimate_fn(batch) <= cap:
            return batch
        batch //= 2
        if batch < max(1, min_batch):
            return None
