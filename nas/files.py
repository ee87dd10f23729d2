"""Files and folders the commands write: atomic replacement for the files several workers on
one machine write at once (CSVs, plots, checkpoints), so nobody reads half a file or loses a
rename; and the check that an output folder can be made at all."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path of this process's own to write, moved onto ``path`` when the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    yield tmp
    tmp.replace(path)


def check_writable(folder: Path) -> None:
    """Raise a one-line ``ValueError`` when ``folder`` could not be made or written, before any work."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"cannot make {str(folder)!r}: {str(existing)!r} is a file, not a folder; "
                         "move it away or run from another folder")
    if not os.access(existing, os.W_OK) or os.statvfs(existing).f_flag & os.ST_RDONLY:
        raise ValueError(f"cannot write {str(folder)!r}: {str(existing)!r} is read-only; "
                         "make it writable or run from a folder you can write")


def remove_made(folder: Path, stop: Path) -> None:
    """Remove ``folder`` and then its parents that are left empty, up to (not including) ``stop``:
    what a command made before it found its input was bad."""
    shutil.rmtree(folder, ignore_errors=True)
    stop = stop.resolve()
    for parent in folder.resolve().parents:
        if parent == stop or stop not in parent.parents:
            return
        try:
            parent.rmdir()
        except OSError:  # not empty: it holds something else
            return
