"""What a genotype builds, in words and numbers (``python -m nas.show`` prints it)."""

from __future__ import annotations

from nas.genotype import Genotype, transition_channels
from nas.training.metrics import count


def summary(genotype: Genotype, input_size: tuple[int, int], num_classes: int, in_channels: int) -> dict:
    _, params, macs = count(genotype, num_classes=num_classes, in_channels=in_channels, image_size=input_size)
    return {
        "name": genotype.name,
        "id": genotype.id,
        "params": params,
        "macs": macs,
        "flops_2x": 2 * macs,
        "input_size": list(input_size),
        "num_classes": num_classes,
        "connections": sum(b.connections() for b in genotype.blocks),
    }


def describe(genotype: Genotype, input_size: tuple[int, int]) -> list[str]:
    stem = genotype.stem
    h, w = input_size
    if stem.kind == "imagenet":
        h, w = -(-h // 4), -(-w // 4)
        lines = [f"stem      imagenet: 7×7/2 conv → {stem.channels} ch, 3×3/2 max-pool"]
    else:
        lines = [f"stem      cifar: 3×3 conv → {stem.channels} ch"]
    channels = stem.channels
    for i, b in enumerate(genotype.blocks):
        pattern = b.pattern + (f"(m={b.m})" if b.pattern == "nearest" else "")
        bottleneck = f"1×1 to {b.bottleneck * b.growth}" if b.bottleneck else "none"
        lines.append(
            f"block {i + 1}   {b.layers} layers, k={b.growth}, {pattern}, {b.conv} 3×3, bottleneck {bottleneck}, "
            f"{b.connections()} connections, {channels} → {b.feature_channels(channels)} ch at {h}×{w}"
        )
        if i < len(genotype.transitions):
            t = genotype.transitions[i]
            transit = b.transit_channels(channels)
            channels = transition_channels(transit, t.compression)
            h, w = h // 2, w // 2
            extra = ", attention" if t.attention else ""
            lines.append(f"trans {i + 1}   θ={t.compression:g}: {transit} → {channels} ch{extra}, 2×2 avg-pool")
    head = genotype.head
    lines.append(
        "head      " + ("multi-scale: every block pooled" + (" (compressed ½)" if head.compress else "")
                        if head.kind == "multiscale" else "last block: BN → ReLU → pool") + " → linear"
    )
    return lines
