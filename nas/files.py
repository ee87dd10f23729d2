"""Files and folders the commands write: atomic replacement for the files several workers on
one machine write at once (CSVs, plots, checkpoints), so nobody reads half a file or loses a
rename; and the check that an output can be written at all."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
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


def unwritable(path: Path, *, file: bool = False) -> str | None:
    """Why the folder ``path`` (with ``file``: the file) could not be made or written, in words; None when it can.

    A folder is tried by making a probe in it, not judged by permission bits: root passes every
    access() test, yet can make nothing in /proc or on a read-only mount.
    """
    try:
        if file:
            if path.is_dir():
                return f"{str(path)!r} is a folder, not a file"
            if path.exists() and not os.access(path, os.W_OK):
                return f"{str(path)!r} is read-only"
            path = path.parent
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            return f"cannot make {str(path)!r}: {str(existing)!r} is a file, not a folder"
    except OSError as e:  # a folder on the way that this user may not look into
        return f"cannot look into {str(e.filename or path)!r} ({e.strerror})"
    try:
        probe = tempfile.mkdtemp(prefix=".probe-", dir=existing)
    except OSError as e:
        made = f"cannot make {str(path)!r}: " if existing != path else ""
        return f"{made}{str(existing)!r} is not writable ({e.strerror})"
    os.rmdir(probe)
    return None


def check_writable(path: Path, fix: str, *, file: bool = False) -> None:
    """Raise a one-line ``ValueError`` (why, then ``fix``) when ``path`` could not be made or written, before any work."""
    why = unwritable(path, file=file)
    if why is not None:
        raise ValueError(f"{why}; {fix}")


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
