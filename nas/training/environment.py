"""Where a run trained: what its result depends on besides its genotype, data, settings and seed.

Training on a CPU is deterministic for one machine, thread count and PyTorch build, and only for those
(on a GPU not even then: some of its kernels, such as average pooling's backward pass, add in whatever
order their threads finish):
another CPU's kernels or another number of threads order the floating-point sums differently,
and a few epochs of SGD amplify that into another result. The tabular benchmark's trial 0,
retrained at its own seed on one AMD EPYC core, ended at 0.557 validation accuracy; on two
cores at 0.5365; the table, built on one core of an Intel Xeon, holds 0.540. Each run records
where it trained, so that a reproduction knows what it must match.
"""

from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

PACKAGE = Path(__file__).resolve().parents[1]


def environment(device: torch.device) -> dict[str, Any]:
    """The CPU (or GPU), threads, PyTorch and code version of a run on ``device``."""
    out = {"cpu": cpu_model(), "threads": torch.get_num_threads(), "torch": torch.__version__}
    if device.type == "cuda":
        out.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    commit = code_commit()
    if commit:
        out["commit"] = commit
    return out


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def code_commit() -> str | None:
    """The git commit the package runs from (``+changes`` when its files differ from it); None outside
    a git checkout (an installed release)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(PACKAGE), *args], capture_output=True, text=True, check=True,
                              timeout=10).stdout.strip()
    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", str(PACKAGE),
                      str(PACKAGE.parent / "search_spaces"))
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+changes" if changed else "")
