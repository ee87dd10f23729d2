"""``python -m nas.inspect <preset-or-genotype-file>``: what a genotype builds.

Prints a readable summary, then as the last line one JSON object with the
parameter count and the multiply-adds for one image at the layout's default
size (32×32 CIFAR, 224×224 ImageNet) or ``--input-size``.
"""

from __future__ import annotations

import argparse
import json
import sys

from nas.genotype import Genotype, GenotypeError, transition_channels
from nas.metrics import DEFAULT_NUM_CLASSES, count_macs, count_params, default_input_size
from nas.models import build_model, min_input_size
from nas.presets import PRESETS, resolve


def summary(genotype: Genotype, input_size: tuple[int, int], num_classes: int, in_channels: int) -> dict:
    model = build_model(genotype, num_classes=num_classes, in_channels=in_channels)
    params = count_params(model)
    macs = count_macs(model, input_size, in_channels)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nas.inspect", description=__doc__.splitlines()[0])
    parser.add_argument("genotype", help=f"a preset ({', '.join(PRESETS)}) or a YAML/JSON genotype file")
    parser.add_argument("--input-size", nargs=2, type=int, metavar=("H", "W"), help="default: 32 32 (CIFAR), 224 224 (ImageNet)")
    parser.add_argument("--num-classes", type=int, help="default: 10 (CIFAR layout), 1000 (ImageNet layout)")
    parser.add_argument("--in-channels", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        genotype = resolve(args.genotype)
    except GenotypeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    size = default_input_size(genotype)
    input_size = tuple(args.input_size) if args.input_size else (size, size)
    smallest = min_input_size(genotype)
    if min(input_size) < smallest:
        print(f"error: --input-size {input_size[0]} {input_size[1]} is too small for this layout; use at least {smallest} {smallest}",
              file=sys.stderr)
        return 2
    num_classes = args.num_classes or DEFAULT_NUM_CLASSES[genotype.stem.kind]
    result = summary(genotype, input_size, num_classes, args.in_channels)
    print(f"{result['name']}  (id {result['id']})")
    for line in describe(genotype, input_size):
        print("  " + line)
    print(f"  parameters  {result['params']:,}")
    print(f"  MACs        {result['macs']:,} multiply-adds per {input_size[0]}×{input_size[1]} image "
          f"(= DenseNet/torchvision 'FLOPs'; CliqueNet's FLOPs are 2× this: {result['flops_2x']:,})")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
