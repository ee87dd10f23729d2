"""Files that several workers on one machine write at once (CSVs, plots): each writes its own
temporary file and moves it into place, so nobody reads half a file or loses a rename."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path of this process's own to write, moved onto ``path`` when the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    yield tmp
    tmp.replace(path)
