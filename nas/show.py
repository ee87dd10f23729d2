"""``python -m nas.show <preset-or-genotype-file>``: what a genotype builds.

Prints a readable summary, then as the last line one JSON object with the
parameter count and the multiply-adds for one image at the layout's default
size (32×32 CIFAR, 224×224 ImageNet) or ``--input-size``.
"""

from __future__ import annotations

import argparse
import json
import sys

from nas.analysis.summary import describe, summary
from nas.cli import run_command
from nas.genotype import GenotypeError
from nas.genotype.presets import PRESETS, resolve
from nas.models import min_input_size
from nas.runtime import startup
from nas.training.metrics import DEFAULT_NUM_CLASSES, default_input_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nas.show", description=__doc__.splitlines()[0])
    parser.add_argument("genotype", help=f"a preset ({', '.join(PRESETS)}) or a YAML/JSON genotype file")
    parser.add_argument("--input-size", nargs=2, type=int, metavar=("H", "W"), help="default: 32 32 (CIFAR), 224 224 (ImageNet)")
    parser.add_argument("--num-classes", type=int, help="default: 10 (CIFAR layout), 1000 (ImageNet layout)")
    parser.add_argument("--in-channels", type=int, default=3)
    args = parser.parse_args(argv)
    startup()
    for flag, value in (("--in-channels", args.in_channels), ("--num-classes", args.num_classes)):
        if value is not None and value < 1:
            print(f"error: {flag} {value}: must be at least 1", file=sys.stderr)
            return 2
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
    run_command(main)
