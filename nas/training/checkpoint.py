"""The checkpoint format: trained weights with everything needed to rebuild and feed them.

A checkpoint is a weights-only ``torch.save`` dict (loading it never runs code from
the file): the genotype, the class count, input channels, image size and the
normalisation the weights were trained with, and the state dict. Everything that
reads a trained model (``nas.analyze``, ``nas.export``) reads it through :func:`load`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nas.files import replacing
from nas.genotype import Genotype, GenotypeError
from nas.models import build_model
from nas.training.data import PreparedData


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint; the message says which and why."""


@dataclass(frozen=True)
class Checkpoint:
    genotype: Genotype
    num_classes: int
    in_channels: int
    image_size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    state_dict: dict[str, torch.Tensor]
    class_names: tuple[str, ...] = ()

    def model(self) -> torch.nn.Module:
        """The model with these weights, in eval mode."""
        model = build_model(self.genotype, num_classes=self.num_classes, in_channels=self.in_channels)
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as e:
            raise CheckpointError(f"the weights do not fit {self.genotype.name}: {str(e).splitlines()[0]}") from None
        return model.eval()


def save(path: Path, model: torch.nn.Module, genotype: Genotype, data: PreparedData) -> Path:
    """Write ``path`` whole or not at all (a reader never sees half a checkpoint)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with replacing(path) as tmp:
        torch.save({"genotype": genotype.to_dict(), "num_classes": data.num_classes, "in_channels": data.in_channels,
                    "image_size": list(data.image_size), "mean": [float(v) for v in data.mean],
                    "std": [float(v) for v in data.std], "class_names": list(data.classes), "state_dict": state}, tmp)
    return path


def load(path: Path, genotype: Genotype | None = None) -> Checkpoint:
    """Read ``path``. A bare state dict needs ``genotype``; a checkpoint's own genotype must equal it."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        state: Any = torch.load(path, map_location="cpu", weights_only=True)  # never runs code from the file
    except Exception as e:  # noqa: BLE001 - torch raises several types for a file that is no checkpoint
        raise CheckpointError(f"{str(path)!r} is not a weights-only PyTorch checkpoint ({type(e).__name__})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{str(path)!r} holds a {type(state).__name__}, not a checkpoint")
    try:
        stored = Genotype.from_dict(state["genotype"]) if "genotype" in state else None
    except GenotypeError as e:
        raise CheckpointError(f"{str(path)!r} holds an invalid genotype: {e}") from None
    if stored is None and genotype is None:
        raise CheckpointError(f"{str(path)!r} holds no genotype; give the genotype it was trained from")
    if stored is not None and genotype is not None and stored != genotype:
        raise CheckpointError(f"the checkpoint is for {stored.name}, not {genotype.name}")
    weights = state.get("state_dict", state)
    if not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointError(f"{str(path)!r} has no state dict of tensors")
    # A bare state dict (or a checkpoint from before the format held them) says its shape through its weights.
    classes = state.get("num_classes") or _shape(weights, "classifier.weight", 0, path)
    channels = state.get("in_channels") or _shape(weights, "features.conv0.weight", 1, path)
    size = tuple(state.get("image_size") or ())
    return Checkpoint(stored or genotype, int(classes), int(channels), size, tuple(state.get("mean") or ()),
                      tuple(state.get("std") or ()), weights, tuple(state.get("class_names") or ()))


def _shape(weights: dict[str, torch.Tensor], key: str, dim: int, path: Path) -> int:
    if key not in weights:
        raise CheckpointError(f"{str(path)!r} has no {key!r}: not weights of a nas model")
    return int(weights[key].shape[dim])
