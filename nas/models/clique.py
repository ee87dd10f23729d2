"""CliqueNet's two-stage block (Yang et al., CVPR 2018).

Every ordered pair of layers (i → j) has its own filter W_ij, plus W_0j from the
block input. Layer j's filters are stored as *one* tensor whose input channels
are laid out by source in the order [0, 1, …, j-1, j+1, …, n]; stage I reads
sources 0..j-1 (a prefix of that tensor) and stage II reads sources ≠ 0, j (a
suffix), so both stages use views of the very same parameters. BN layers are
separate per stage. Stage-II features go to the transition; the block input
together with them forms the block feature for the multi-scale classifier.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas.genotype import Block, patterns
from nas.models.efficient import bn_relu_conv
from nas.models.ops import SeparableConv2d, conv3x3, conv_weights


class CliqueLayer(nn.Module):
    """Layer j of a clique block: its pairwise filters and its per-stage BN layers.

    With a bottleneck b (option B for b = 1) the pairwise filters are 1×1 convs to
    b·k channels and the layer owns a 3×3 conv to k, shared by both stages.
    """

    def __init__(self, index: int, layers: int, in_channels: int, growth: int,
                 bottleneck: int | None, conv: str, dropout: float = 0.0,
                 memory_efficient: bool = False) -> None:
        super().__init__()
        all_in = in_channels + (layers - 1) * growth
        self.stage_slices = (slice(0, in_channels + (index - 1) * growth), slice(in_channels, all_in))
        if bottleneck is None:
            self.filters = conv3x3(all_in, growth, conv)
        else:
            width = bottleneck * growth
            self.filters = nn.Conv2d(all_in, width, 1, bias=False)
            self.norm3_stage1 = nn.BatchNorm2d(width)
            self.norm3_stage2 = nn.BatchNorm2d(width)
            self.conv3 = conv3x3(width, growth, conv)
        self.norm_stage1 = nn.BatchNorm2d(self.stage_slices[0].stop)
        self.norm_stage2 = nn.BatchNorm2d(all_in - in_channels)
        self.bottleneck = bottleneck is not None
        self.dropout = dropout
        self.memory_efficient = memory_efficient

    def stage_weights(self, stage: int) -> tuple[Tensor, Tensor | None]:
        """Views of the shared filters for the sources that ``stage`` (1 or 2) reads."""
        cut = self.stage_slices[stage - 1]
        weight, pointwise = conv_weights(self.filters)
        if isinstance(self.filters, SeparableConv2d):
            return weight[cut], pointwise[:, cut]
        return weight[:, cut], None

    def forward(self, inputs: list[Tensor], stage: int) -> Tensor:
        norm = self.norm_stage1 if stage == 1 else self.norm_stage2
        out = bn_relu_conv(inputs, norm, *self.stage_weights(stage), memory_efficient=self.memory_efficient)
        if self.bottleneck:
            norm3 = self.norm3_stage1 if stage == 1 else self.norm3_stage2
            out = self.conv3(F.relu(norm3(out), inplace=True))
        if self.dropout:
            out = F.dropout(out, self.dropout, self.training)
        return out


class CliqueBlock(nn.ModuleDict):
    def __init__(self, block: Block, in_channels: int, dropout: float = 0.0,
                 memory_efficient: bool = False) -> None:
        super().__init__()
        self.stage1 = block.layer_inputs()
        self.stage2 = patterns.Clique.stage2_inputs(block.layers)
        for j in range(1, block.layers + 1):
            self[f"cliquelayer{j}"] = CliqueLayer(j, block.layers, in_channels, block.growth,
                                                  block.bottleneck, block.conv, dropout, memory_efficient)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Returns (stage-II features for the transition, {x_0, stage II} for the classifier)."""
        stage1 = [x]
        for layer, sources in zip(self.values(), self.stage1):
            stage1.append(layer([stage1[s] for s in sources], stage=1))
        latest = list(stage1)  # refined in place: sources before j are already stage II
        for j, (layer, sources) in enumerate(zip(self.values(), self.stage2), start=1):
            latest[j] = layer([latest[s] for s in sources], stage=2)
        transit = torch.cat(latest[1:], 1)
        return transit, torch.cat([x, transit], 1)
