"""Connection strengths inside a trained model: the DenseNet paper's Fig. 5.

For each block, the strength of the connection from source s (0 = the block's
input, i = layer i's output) to a target is the mean absolute weight of the
target's first convolution over the input channels that carry s. The targets are
every layer, the transition after the block and the classifier. Each target's row
is divided by its largest entry, so 1 marks the source that target weighs most.
Sources a target does not read are NaN.

A depthwise-separable convolution acts on input channel c through
``pointwise[:, c] * depthwise[c]``; the mean of the absolute product factorises
into the two means, so it is exact. A clique block gets two maps, one per stage,
read from the two views of its shared filters. In a multi-scale head with
compression (CliqueNet's option C) the first convolution that reads a block's
feature on its way to the classifier is the compressing 1×1 conv, so the
classifier row is read from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import Tensor, nn

from nas.files import replacing
from nas.models.clique import CliqueBlock
from nas.models.network import DenseNet
from nas.models.ops import conv_weights


@dataclass(frozen=True)
class Heatmap:
    """One block's (or one clique stage's) connection strengths, targets × sources."""

    block: int
    stage: int | None  # 1 or 2 for a clique block
    targets: tuple[str, ...]  # "1" … "L", then "transition" and/or "classifier"
    sources: tuple[str, ...]  # "in", "1" … "L"
    strength: np.ndarray

    @property
    def title(self) -> str:
        return f"block {self.block}" + (f", stage {'I' * self.stage}" if self.stage else "")

    def to_dict(self) -> dict:
        return {"block": self.block, "stage": self.stage, "targets": list(self.targets),
                "sources": list(self.sources),
                "strength": [[None if np.isnan(v) else round(float(v), 4) for v in row] for row in self.strength]}

    @classmethod
    def from_dict(cls, d: dict) -> Heatmap:
        strength = np.array([[np.nan if v is None else v for v in row] for row in d["strength"]], dtype=float)
        return cls(d["block"], d["stage"], tuple(d["targets"]), tuple(d["sources"]), strength)


def channel_strength(weight: Tensor, pointwise: Tensor | None = None) -> Tensor:
    """Mean absolute weight per input channel of a conv (or a separable conv's two parts)."""
    if pointwise is None:
        return weight.detach().abs().mean(dim=[d for d in range(weight.dim()) if d != 1])
    return pointwise.detach().abs().mean(dim=(0, 2, 3)) * weight.detach().abs().mean(dim=(1, 2, 3))


def _row(per_channel: Tensor, sources: tuple[int, ...] | list[int], widths: list[int], n_sources: int) -> np.ndarray:
    row = np.full(n_sources, np.nan)
    start = 0
    for s in sources:
        row[s] = float(per_channel[start:start + widths[s]].mean())
        start += widths[s]
    if start != len(per_channel):
        raise ValueError(f"{len(per_channel)} input channels, but the sources carry {start}")
    return row


def _normalised(rows: list[np.ndarray]) -> np.ndarray:
    matrix = np.vstack(rows)
    peak = np.nanmax(matrix, axis=1, keepdims=True)
    return matrix / np.where(peak > 0, peak, 1.0)


def _classifier_rows(model: DenseNet) -> dict[int, Tensor]:
    """Per block index (1-based), the classifier's per-channel strength over that block's feature."""
    weight = model.classifier.weight.detach()
    if not model.multiscale:
        return {len(model.genotype.blocks): channel_strength(weight)}
    rows, offset = {}, 0
    for i, pool in enumerate(model.pools, start=1):
        part = weight[:, offset:offset + pool.out_channels]
        offset += pool.out_channels
        rows[i] = channel_strength(part if pool.conv is None else pool.conv.weight.detach())
    return rows


def connection_strengths(model: DenseNet) -> list[Heatmap]:
    """The heat maps of every block of ``model`` (see the module docstring)."""
    genotype = model.genotype
    classifier = _classifier_rows(model)
    maps: list[Heatmap] = []
    channels = genotype.stem.channels
    for i, block in enumerate(genotype.blocks, start=1):
        module = model.features[f"denseblock{i}"]
        widths = block.source_channels(channels)
        n = len(widths)
        layers = tuple(str(j) for j in range(1, n))
        transition = model.features[f"transition{i}"] if f"transition{i}" in model.features else None
        tail_rows, tail_names = [], []
        if transition is not None:
            tail_rows.append(_row(channel_strength(transition.conv.weight), block.transit_sources(), widths, n))
            tail_names.append("transition")
        if i in classifier:
            tail_rows.append(_row(classifier[i], block.block_outputs(), widths, n))
            tail_names.append("classifier")
        if isinstance(module, CliqueBlock):
            for stage, inputs in ((1, module.stage1), (2, module.stage2)):
                # the shared filters' channels run over the sources in ascending order (nas.models.clique)
                rows = [_row(channel_strength(*layer.stage_weights(stage)), sources_j, widths, n)
                        for layer, sources_j in zip(module.values(), inputs)]
                last = stage == 2
                maps.append(Heatmap(i, stage, (*layers, *(tail_names if last else ())), ("in", *layers),
                                    _normalised(rows + (tail_rows if last else []))))
        else:
            rows = [_row(channel_strength(*conv_weights(layer.conv1)), inputs, widths, n)
                    for layer, inputs in zip(module.values(), module.inputs)]
            maps.append(Heatmap(i, None, (*layers, *tail_names), ("in", *layers), _normalised(rows + tail_rows)))
        channels = transition.conv.out_channels if transition is not None else channels
    return maps


def plot(maps: list[Heatmap], path: Path, title: str = "") -> Path:
    """One panel per map, targets down and sources across, as in the DenseNet paper."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(maps), figsize=(2.6 * len(maps) + 1.5, 3.4), squeeze=False)
    for k, (ax, m) in enumerate(zip(axes[0], maps)):
        image = ax.imshow(np.ma.masked_invalid(m.strength), cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(m.sources)), m.sources, fontsize=7, rotation=90 if len(m.sources) > 12 else 0)
        ax.set_yticks(range(len(m.targets)), [t[0].upper() if len(t) > 3 else t for t in m.targets], fontsize=7)
        ax.set_title(m.title, fontsize=9)
        if k == 0:
            ax.set_ylabel("target: layer, T transition, C classifier", fontsize=8)
    fig.colorbar(image, ax=axes[0].tolist(), label="mean |w|, normalised per target", shrink=0.85)
    fig.supxlabel("source: in = block input, i = output of layer i", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9, y=1.03)
    with replacing(path) as tmp:  # workers on one machine draw the same file
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def write(model: nn.Module, path: Path, title: str = "") -> list[Heatmap]:
    """Compute the heat maps of a trained model; save the picture at ``path`` and the
    values beside it (same name, ``.json``)."""
    maps = connection_strengths(model)
    plot(maps, path, title)
    path.with_suffix(".json").write_text(json.dumps([m.to_dict() for m in maps]))
    return maps
