"""Dense layers and blocks with arbitrary connectivity inside the block.

Module names follow torchvision's DenseNet (``denselayer{i}.norm1/conv1/norm2/conv2``)
so full-connectivity genotypes load torchvision checkpoints unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas.genotype import Block
from nas.models.efficient import bn_relu_conv
from nas.models.ops import conv3x3, conv_weights


class DenseLayer(nn.Module):
    """BN → ReLU → [1×1 conv to b·k → BN → ReLU] → 3×3 conv to k, over the
    concatenation of the layer's inputs."""

    def __init__(self, in_channels: int, growth: int, bottleneck: int | None, conv: str,
                 dropout: float = 0.0, memory_efficient: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        if bottleneck is None:
            self.conv1 = conv3x3(in_channels, growth, conv)
        else:
            self.conv1 = nn.Conv2d(in_channels, bottleneck * growth, 1, bias=False)
            self.norm2 = nn.BatchNorm2d(bottleneck * growth)
            self.conv2 = conv3x3(bottleneck * growth, growth, conv)
        self.bottleneck = bottleneck is not None
        self.dropout = dropout
        self.memory_efficient = memory_efficient

    def forward(self, inputs: list[Tensor]) -> Tensor:
        out = bn_relu_conv(inputs, self.norm1, *conv_weights(self.conv1), memory_efficient=self.memory_efficient)
        if self.bottleneck:
            out = self.conv2(F.relu(self.norm2(out), inplace=True))
        if self.dropout:
            out = F.dropout(out, self.dropout, self.training)
        return out


class DenseBlock(nn.ModuleDict):
    """Layer i reads the sources listed by the block's connectivity (0 = block input)."""

    def __init__(self, block: Block, in_channels: int, dropout: float = 0.0,
                 memory_efficient: bool = False) -> None:
        super().__init__()
        self.inputs = block.layer_inputs()
        self.outputs = block.block_outputs()
        widths = block.source_channels(in_channels)
        for i, sources in enumerate(self.inputs, start=1):
            width = sum(widths[s] for s in sources)
            self[f"denselayer{i}"] = DenseLayer(width, block.growth, block.bottleneck, block.conv,
                                                dropout, memory_efficient)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Returns (features for the transition, features for the classifier)."""
        features = [x]
        for layer, sources in zip(self.values(), self.inputs):
            features.append(layer([features[s] for s in sources]))
        out = torch.cat([features[s] for s in self.outputs], 1)
        return out, out
