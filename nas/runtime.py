"""Process-wide settings, made in one place: the commands call :func:`startup` first.

Nothing in the library changes the process on import or per call; what must be
set once for a whole run (a config resolver, the plotting backend, the C
allocator's behaviour, log levels, which GPU a worker sees) is set here.
"""

from __future__ import annotations

import contextlib
import ctypes
import os


def startup() -> None:
    """Settings every command wants before it composes its config or trains."""
    import matplotlib
    import optuna
    from omegaconf import OmegaConf

    # conf/launcher/local.yaml: worker i → GPU i // workers_per_gpu
    OmegaConf.register_new_resolver("gpu_of_worker", lambda worker, per_gpu: str(int(worker) // int(per_gpu)),
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


def use_gpu(gpu: int | str | None) -> None:
    """Show this worker only GPU ``gpu`` — before anything touches CUDA."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
