"""Convolutions and the channel-attention op shared by dense and clique blocks."""

from __future__ import annotations

from torch import Tensor, nn

from nas.models.efficient import apply_conv


class SeparableConv2d(nn.Module):
    """Depthwise k×k then pointwise 1×1, with no nonlinearity or BN between them:
    Chollet (Xception) found that converges faster and ends more accurate."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, padding=kernel_size // 2,
                                   groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return apply_conv(x, self.depthwise.weight, self.pointwise.weight)


def conv3x3(in_channels: int, out_channels: int, conv: str) -> nn.Module:
    if conv == "separable":
        return SeparableConv2d(in_channels, out_channels)
    return nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)


def conv_weights(conv: nn.Module) -> tuple[nn.Parameter, nn.Parameter | None]:
    """(weight, pointwise) in the form :func:`nas.models.efficient.bn_relu_conv` takes."""
    if isinstance(conv, SeparableConv2d):
        return conv.depthwise.weight, conv.pointwise.weight
    return conv.weight, None


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation (CliqueNet's attentional transition, option A):
    global pool → FC C→C/2 → ReLU → FC C/2→C → sigmoid → channel-wise scale."""

    def __init__(self, channels: int, reduction: int = 2) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: Tensor) -> Tensor:
        s = x.mean((2, 3))
        s = self.fc2(self.fc1(s).relu()).sigmoid()
        return x * s[:, :, None, None]
