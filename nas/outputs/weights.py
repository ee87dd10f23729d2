"""The trained weights a study keeps: those of its Pareto trials, in ``runs/<study>/weights/``.

A trial's worker writes its checkpoint before telling the study it completed; the
outputs drop it once the trial is known to be dominated. Dominance is permanent,
so a checkpoint is only ever dropped for a trial that can never return to the
front, whichever worker sees it first — and ``nas.export`` finds trained weights
for every Pareto trial without a run of ``nas.train``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from nas.files import trial_stem
from nas.genotype import Genotype
from nas.training import checkpoint
from nas.training.data import PreparedData

FOLDER = "weights"


def path(out_dir: Path, number: int, genotype_id: str) -> Path:
    return out_dir / FOLDER / f"{trial_stem(number, genotype_id)}.pt"


def keep(out_dir: Path, number: int, model: torch.nn.Module, genotype: Genotype, data: PreparedData) -> Path:
    return checkpoint.save(path(out_dir, number, genotype.id), model, genotype, data)


def drop(out_dir: Path, finished: set[int], front: set[int]) -> None:
    """Remove the checkpoints of the finished trials that are not on the front. Trials this
    worker has not seen finish (another worker's, still being told) keep theirs."""
    folder = out_dir / FOLDER
    if not folder.is_dir():
        return
    for file in folder.glob("trial*.pt"):
        number = _number(file)
        if number is not None and number in finished and number not in front:
            file.unlink(missing_ok=True)  # another worker may have removed it first


def find(out_dir: Path, number: int, genotype_id: str) -> Path | None:
    """The kept checkpoint of trial ``number``, if it has one."""
    p = path(out_dir, number, genotype_id)
    return p if p.is_file() else None


def _number(file: Path) -> int | None:
    digits = file.stem.removeprefix("trial").split("-", 1)[0]
    return int(digits) if digits.isdigit() else None
