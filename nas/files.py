"""Files and folders the commands write: atomic replacement for the files several workers on
one machine write at once (CSVs, plots, checkpoints), so nobody reads half a file or loses a
rename; the check that an output can be written at all; the one place a study's folder and a
trial's file names are made; and strict JSON."""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


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


RUNS = Path("runs")  # where every study's folder is, relative to where the commands run


def study_dir(study_name: str) -> Path:
    """``runs/<study_name>``: a study's outputs (and, by default, its storage)."""
    return RUNS / study_name


def trial_stem(number: int, name: str) -> str:
    """A trial's files and runs are named ``trial<number>-<genotype id or name>``, sorted by number."""
    return f"trial{number:04d}-{name}"


def check_study_name(name: object) -> None:
    """The study's folder is runs/<study_name>: one safe path component, never a way out of runs/."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
        raise ValueError(f"study_name={name!r}: the study's folder is runs/<study_name>; use letters, digits, '.', "
                         "'_' and '-' (no '/' or '..'), e.g. study_name=dense_c10")


def strict_json(value: Any) -> Any:
    """``value`` with every NaN or infinity, however deep, as null: strict JSON parsers reject
    them, and a diverged run has no loss."""
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value
