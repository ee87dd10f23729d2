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
    try:
        yield tmp
    except BaseException:  # a full disk, Ctrl-C: no hidden half-file left behind
        tmp.unlink(missing_ok=True)
        raise
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


def remove_made(folder: Path, made: list[str], stop: Path) -> None:
    """Remove the entries ``made`` in ``folder`` (what Hydra wrote for a refused command), then
    ``folder`` and its parents while they are empty and strictly inside ``stop``. Nothing else:
    the folder may be the user's own (``hydra.run.dir=.``) or hold a study."""
    for name in made:
        entry = folder / name
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    stop = stop.resolve()
    for parent in [folder.resolve(), *folder.resolve().parents]:
        if stop not in parent.parents:  # stop itself, above it or beside it: never removed
            return
        try:
            parent.rmdir()
        except OSError:  # not empty: it holds something else
            return
