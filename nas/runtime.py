"""Process-wide settings, made in one place: the commands call :func:`startup` first.

Nothing in the library changes the process on import or per call; what must be
set once for a whole run (a config resolver, the plotting backend, the C
allocator's behaviour, log levels, which GPU a worker sees) is set here.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from pathlib import Path


def startup() -> None:
    """Settings every command wants before it composes its config or trains."""
    import matplotlib
    import optuna
    from omegaconf import OmegaConf

    # conf/launcher/local.yaml: worker i → GPU i // workers_per_gpu
    OmegaConf.register_new_resolver("gpu_of_worker", lambda worker, per_gpu: str(int(worker) // int(per_gpu)),
                                    replace=True)
    OmegaConf.register_new_resolver("share_of_gpu", lambda per_gpu: None if int(per_gpu) == 1 else 1 / int(per_gpu),
                                    replace=True)
    OmegaConf.register_new_resolver("threads_per_worker", lambda workers: threads_per_worker(int(workers)),
                                    replace=True)
    matplotlib.use("Agg")  # files only; no window, even where a display exists
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the commands say what happens in their own words
    keep_freed_cpu_memory()


def keep_freed_cpu_memory() -> bool:
    """Ask glibc to keep freed memory for reuse instead of returning it to the kernel.

    PyTorch's CPU allocator is plain malloc: every training step frees and
    re-allocates the same activation buffers, and by default glibc hands large ones
    back to the kernel, so each step pays page faults to get them again (a third of
    the step time for a CIFAR DenseNet here). Raising the mmap and trim thresholds
    keeps them in the heap, as the caching allocator does on CUDA. A no-op where
    there is no glibc.
    """
    with contextlib.suppress(OSError):
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 32 * 2**20) and libc.mallopt(m_trim_threshold, 2**30))
    return False


def cores() -> int:
    """The cores this process may use: its CPU mask (a scheduler's), capped by a container's CPU quota."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    with contextlib.suppress(OSError, ValueError):  # cgroup v2; "max" (no quota) fails the int()
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        count = min(count, max(1, int(quota) // int(period)))
    return count


def threads_per_worker(workers: int) -> int:
    """Each of ``workers`` processes on this machine its share of the cores."""
    return max(1, cores() // workers)


def use_cpu_threads(threads: int | None) -> None:
    """Give this worker ``threads`` intra-op threads. PyTorch takes every core by default, so workers
    sharing a machine each spin as many threads as there are cores and wait on one another: on 2 cores,
    a 2-worker test study took 77–137 s that way and 12 s with one thread each."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


INHERITED_MASK = "NAS_INHERITED_CUDA_VISIBLE_DEVICES"  # the mask before the first use_gpu in this process tree


def use_gpu(gpu: int | str | None, device: str = "auto") -> None:
    """Show this worker only its GPU ``gpu`` — before anything touches CUDA.

    ``gpu`` indexes the GPUs this process was given: with an inherited
    ``CUDA_VISIBLE_DEVICES`` (a scheduler's ``4,5``), ``gpu=1`` is physical GPU 5, not 1.
    A worker meant for a GPU (any ``device`` but ``cpu``) that then sees none is refused:
    it would otherwise train a GPU budget on the CPU.
    """
    if gpu is None:
        return
    if isinstance(gpu, bool) or not str(gpu).isdigit():
        raise ValueError(f"gpu={gpu!r}: give the index of a GPU, e.g. gpu=0, or leave it out")
    inherited = os.environ.setdefault(INHERITED_MASK, os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    visible = [d.strip() for d in inherited.split(",") if d.strip()]
    index = int(gpu)
    if visible and index >= len(visible):
        raise ValueError(f"gpu={index}: this worker was given {len(visible)} GPU(s) (CUDA_VISIBLE_DEVICES={inherited}); "
                         f"use gpu=0…{len(visible) - 1}")
    os.environ["CUDA_VISIBLE_DEVICES"] = visible[index] if visible else str(index)
    if device != "cpu":
        import torch

        if torch.cuda.device_count() < 1:
            raise ValueError(f"gpu={index}: this worker sees no GPU with CUDA_VISIBLE_DEVICES="
                             f"{os.environ['CUDA_VISIBLE_DEVICES']} (check nvidia-smi); to train on the CPU, "
                             "set device=cpu")
