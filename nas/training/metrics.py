"""What a model costs: parameters, multiply-adds, and peak training memory.

Convention: ``macs`` are multiply-accumulate operations of the convolutions and
linear layers for one image — what the DenseNet paper and torchvision call
FLOPs (and what fvcore counts; the tests hold the two equal). The CliqueNet
paper's FLOPs are 2 × MACs. Batch-norm, ReLU and pooling are element-wise and
not counted, as in the papers.

Both counts run on PyTorch's ``meta`` device: shapes without storage, so a
genotype of any size is counted in milliseconds without allocating a weight
(:func:`count`), and a constraint check never builds the giant model it rules out.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import gc
import math
import weakref
from collections.abc import Iterable, Iterator

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from nas.genotype import Genotype
from nas.models import build_model

aten = torch.ops.aten

DEFAULT_INPUT_SIZE = {"cifar": 32, "imagenet": 224}
DEFAULT_NUM_CLASSES = {"cifar": 10, "imagenet": 1000}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def default_input_size(genotype: Genotype) -> int:
    return DEFAULT_INPUT_SIZE[genotype.stem.kind]


def count_macs(model: nn.Module, input_size: tuple[int, int], in_channels: int = 3) -> int:
    """Multiply-adds for one image of ``input_size`` (H, W), on a meta copy of ``model``."""
    meta = meta_copy(model).eval()
    with torch.no_grad(), _MacCounter() as counter:
        meta(torch.zeros(1, in_channels, *input_size, device="meta"))
    return counter.macs


def count(genotype: Genotype, *, num_classes: int, in_channels: int, image_size: tuple[int, int],
          memory_efficient: bool = False) -> tuple[nn.Module, int, int]:
    """``(meta model, parameters, multiply-adds)`` of a genotype, without allocating a weight."""
    model = meta_model(genotype, num_classes, in_channels, memory_efficient=memory_efficient)
    return model, count_params(model), count_macs(model, image_size, in_channels)


def meta_model(genotype: Genotype, num_classes: int, in_channels: int, *, memory_efficient: bool = False) -> nn.Module:
    """The model with shapes but no storage: any size builds at once and costs no memory."""
    with torch.device("meta"):
        return build_model(genotype, num_classes=num_classes, in_channels=in_channels,
                           memory_efficient=memory_efficient)


def meta_copy(model: nn.Module) -> nn.Module:
    """A deep copy whose parameters and buffers are meta tensors: nothing is copied."""
    memo: dict[int, object] = {}
    for p in model.parameters():
        memo[id(p)] = nn.Parameter(torch.empty_like(p, device="meta"), requires_grad=p.requires_grad)
    for b in model.buffers():
        memo[id(b)] = torch.empty_like(b, device="meta")
    return copy.deepcopy(model, memo)


class _MacCounter(TorchDispatchMode):
    """Adds up the multiply-adds of every convolution and matrix product the forward runs
    (modules and functional calls alike: CliqueNet's stage II convolves with weight slices)."""

    def __init__(self) -> None:
        super().__init__()
        self.macs = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        op = func.overloadpacket
        if op is aten.convolution:  # every output element: C_in/groups × kernel multiply-adds
            self.macs += out.numel() * math.prod(args[1].shape[1:])
        elif op is aten.addmm:
            self.macs += math.prod(args[1].shape) * args[2].shape[-1]
        elif op in (aten.mm, aten.bmm):
            self.macs += math.prod(args[0].shape) * args[1].shape[-1]
        return out


class StorageTimeline(TorchDispatchMode):
    """Records each storage an op creates (with its bytes) and when it is freed: every tensor
    made in the forward and the backward pass. The CPU has no caching allocator with
    statistics, so this plays ``torch.cuda.max_memory_allocated``'s role there, and it is how
    :mod:`nas.training.memory` measures a step on the meta device.

    Keyed by the storage's C++ object (``_cdata``): meta storages all have data
    pointer 0. Storages that exist already (parameters, buffers: ``existing``) are
    not allocations even when an op returns a view of them or updates them in place.
    """

    def __init__(self, existing: Iterable[Tensor] = ()) -> None:
        super().__init__()
        self.existing = {t.untyped_storage()._cdata for t in existing}
        self.live: dict[int, int] = {}  # storage key → allocation id
        self.sizes: list[int] = []  # allocation id → bytes
        self.events: list[int] = []  # id: allocated, ~id: freed

    def _free(self, key: int, i: int) -> None:
        if self.live.get(key) == i:
            del self.live[key]
        self.events.append(~i)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, Tensor):
                storage = t.untyped_storage()
                key = storage._cdata
                if key in self.live or key in self.existing:
                    continue
                i = len(self.sizes)
                self.sizes.append(storage.nbytes())
                self.live[key] = i
                self.events.append(i)
                weakref.finalize(storage, self._free, key, i)
        return out

    def allocation(self, t: Tensor) -> int | None:
        return self.live.get(t.untyped_storage()._cdata)

    def peak(self, exclude: set[int] = frozenset()) -> int:
        """Peak of the live bytes over the timeline, leaving out the allocations ``exclude``."""
        current = peak = 0
        for e in self.events:
            i = e if e >= 0 else ~e
            if i in exclude:
                continue
            current += self.sizes[i] if e >= 0 else -self.sizes[i]
            peak = max(peak, current)
        return peak


class PeakMemory:
    """Peak bytes allocated inside the ``with`` block beyond what was live before it.

    CUDA: the caching allocator's statistics. CPU: live tensor bytes tracked per op
    (slows the block down, so never time what runs under it).
    """

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.bytes = 0

    @contextlib.contextmanager
    def _cuda(self) -> Iterator[None]:
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        base = torch.cuda.memory_allocated(self.device)
        yield
        torch.cuda.synchronize(self.device)
        self.bytes = torch.cuda.max_memory_allocated(self.device) - base

    @contextlib.contextmanager
    def _cpu(self) -> Iterator[None]:
        with StorageTimeline() as timeline:
            yield
        self.bytes = timeline.peak()

    def __enter__(self) -> PeakMemory:
        self._ctx = self._cuda() if self.device.type == "cuda" else self._cpu()
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._ctx.__exit__(*exc)


class PeakRSS:
    """Peak resident memory of this process inside the ``with`` block beyond what
    was resident before it. Unlike :class:`PeakMemory` it includes what the C
    allocator keeps after tensors are freed, i.e. what the operating system sees.

    Exact on Linux (the kernel's peak counter is reset on entry); elsewhere it is the
    growth of the process's lifetime peak, which misses peaks lower than an earlier one.
    """

    def __init__(self) -> None:
        self.bytes = 0

    @staticmethod
    def _status(field: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise OSError(f"/proc/self/status has no {field}")

    @staticmethod
    def _lifetime_peak() -> int:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere

    def __enter__(self) -> PeakRSS:
        # The young generations only: a full collection walks every object the process holds
        # (a long study's cached trials among them), which made it cost more as the study grew.
        gc.collect(1)
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)  # return freed heap pages first
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the peak (VmHWM) to the current resident size
            self._base, self._linux = self._status("VmRSS"), True
        except OSError:
            self._base, self._linux = self._lifetime_peak(), False
        return self

    def __exit__(self, *exc) -> None:
        peak = self._status("VmHWM") if self._linux else self._lifetime_peak()
        self.bytes = max(0, peak - self._base)


def inference_latency(model: nn.Module, input_size: tuple[int, int], *, batch_size: int, in_channels: int = 3,
                      device: torch.device | str = "cpu", repeats: int = 5, channels_last: bool = False,
                      bf16: bool = False) -> float:
    """Median seconds of one eval-mode forward pass of ``batch_size`` images on ``device``
    (after one warm-up pass): what FLOPs hide — narrow and depthwise convs are cheap in
    multiply-adds but not in time. ``bf16``: under bf16 autocast, the precision the trainer
    trains and validates in on a GPU."""
    import statistics
    import time

    device = torch.device(device)
    was_training = model.training
    model.eval()
    x = torch.randn(batch_size, in_channels, *input_size, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    times = []
    precision = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    try:
        with torch.no_grad(), precision:
            for i in range(repeats + 1):
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
                model(x)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                if i:  # the first pass warms up allocators and kernel choices
                    times.append(time.perf_counter() - start)
    finally:
        model.train(was_training)
    return statistics.median(times)
