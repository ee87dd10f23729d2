"""The network assembled from a genotype, and the pure builder ``build_model``."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas.genotype import Genotype, GenotypeError, patterns, transition_channels
from nas.models.clique import CliqueBlock
from nas.models.dense import DenseBlock
from nas.models.ops import ChannelAttention


class Transition(nn.Sequential):
    """BN → ReLU → 1×1 conv → [channel attention] → [dropout] → 2×2 average pool."""

    def __init__(self, in_channels: int, out_channels: int, attention: bool = False, dropout: float = 0.0) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            norm=nn.BatchNorm2d(in_channels),
            relu=nn.ReLU(inplace=True),
            conv=nn.Conv2d(in_channels, out_channels, 1, bias=False),
        )
        if attention:
            layers["attention"] = ChannelAttention(out_channels)
        if dropout:
            layers["dropout"] = nn.Dropout(dropout)
        layers["pool"] = nn.AvgPool2d(2, 2)
        super().__init__(layers)


class BlockPool(nn.Module):
    """Classifier path of one block in the multi-scale head: BN → ReLU [→ 1×1 conv to half
    the channels → BN → ReLU] → global average pool.

    The compressed path (CliqueNet's option C) ends in BN → ReLU as the authors' code does
    (``compress()`` then ``global_pool()``): without them the 1×1 conv, the pooling and the
    linear classifier would all be linear, and the conv would only limit the classifier's rank.
    """

    def __init__(self, channels: int, compress: bool) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels)
        self.conv = nn.Conv2d(channels, channels // 2, 1, bias=False) if compress else None
        self.norm2 = nn.BatchNorm2d(channels // 2) if compress else None
        self.out_channels = channels // 2 if compress else channels

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.norm(x), inplace=True)
        if self.conv is not None:
            x = F.relu(self.norm2(self.conv(x)), inplace=True)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


class DenseNet(nn.Module):
    """A densely connected CNN described by a :class:`~nas.genotype.Genotype`.

    State-dict names match torchvision's DenseNet (``features.conv0``,
    ``features.denseblock1.denselayer1.norm1``, ``features.transition1.conv``,
    ``features.norm5``, ``classifier``) wherever the architecture coincides.
    """

    def __init__(self, genotype: Genotype, num_classes: int = 10, in_channels: int = 3,
                 memory_efficient: bool = False) -> None:
        super().__init__()
        self.genotype = genotype
        stem = genotype.stem
        features: OrderedDict[str, nn.Module] = OrderedDict()
        if stem.kind == "imagenet":
            features["conv0"] = nn.Conv2d(in_channels, stem.channels, 7, stride=2, padding=3, bias=False)
            features["norm0"] = nn.BatchNorm2d(stem.channels)
            features["relu0"] = nn.ReLU(inplace=True)
            features["pool0"] = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            features["conv0"] = nn.Conv2d(in_channels, stem.channels, 3, padding=1, bias=False)

        channels, block_features = stem.channels, []
        for i, block in enumerate(genotype.blocks, start=1):
            kind = CliqueBlock if patterns.get(block.pattern).two_stage else DenseBlock
            features[f"denseblock{i}"] = kind(block, channels, genotype.dropout, memory_efficient)
            block_features.append(block.feature_channels(channels))
            if i <= len(genotype.transitions):
                t = genotype.transitions[i - 1]
                transit = block.transit_channels(channels)
                channels = transition_channels(transit, t.compression)
                features[f"transition{i}"] = Transition(transit, channels, t.attention, genotype.dropout)

        self.multiscale = genotype.head.kind == "multiscale"
        if self.multiscale:
            self.pools = nn.ModuleList(BlockPool(c, genotype.head.compress) for c in block_features)
            head_channels = sum(p.out_channels for p in self.pools)
        else:
            features["norm5"] = nn.BatchNorm2d(block_features[-1])
            head_channels = block_features[-1]
        self.features = nn.ModuleDict(features)
        self.classifier = nn.Linear(head_channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """Block features for the head: every block's (multi-scale) or the last one's."""
        kept: list[Tensor] = []
        for name, module in self.features.items():
            if isinstance(module, (DenseBlock, CliqueBlock)):
                x, feature = module(x)
                kept = kept + [feature] if self.multiscale else [feature]
            elif name != "norm5":
                x = module(x)
        return kept

    def forward_head(self, features: list[Tensor]) -> Tensor:
        if self.multiscale:
            pooled = torch.cat([pool(f) for pool, f in zip(self.pools, features)], 1)
        else:
            x = F.relu(self.features["norm5"](features[-1]), inplace=True)
            pooled = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(pooled)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def build_model(genotype: Genotype | str | Path, *, num_classes: int = 10, in_channels: int = 3,
                memory_efficient: bool = False) -> DenseNet:
    """Build the network a genotype describes: a :class:`Genotype`, a preset name
    (see :data:`nas.genotype.presets.PRESETS`) or a YAML/JSON genotype file.

    ``memory_efficient`` recomputes concat → BN → ReLU → first conv in the backward
    pass; outputs and gradients are the same, training memory grows linearly with
    block depth instead of quadratically.
    """
    from nas.genotype.presets import resolve

    if not isinstance(genotype, Genotype):
        genotype = resolve(genotype)
    if num_classes < 1 or in_channels < 1:
        raise ValueError(f"num_classes ({num_classes}) and in_channels ({in_channels}) must be ≥ 1")
    return DenseNet(genotype, num_classes=num_classes, in_channels=in_channels, memory_efficient=memory_efficient)


def check_input_size(genotype: Genotype, image_size: tuple[int, int], hint: str = "") -> None:
    """GenotypeError when ``image_size`` images are too small for the layout (``hint``: what the caller's user
    can change)."""
    smallest = min_input_size(genotype)
    if min(image_size) < smallest:
        raise GenotypeError(f"{genotype.name} needs images of at least {smallest}×{smallest}, not "
                            f"{image_size[0]}×{image_size[1]}{hint}")


def min_input_size(genotype: Genotype) -> int:
    """Smallest square input the layout can take: the last block must see ≥ 1×1."""
    size = 1
    for _ in genotype.transitions:
        size *= 2
    if genotype.stem.kind == "imagenet":
        # 7×7/2 conv (pad 3) then 3×3/2 max-pool (pad 1): ceil(ceil(H/2)/2) ≥ size
        size = 4 * (size - 1) + 1
    return size
