"""A genotype as the numbers a surrogate model reads: per block, then for the whole network.

Read from the genotype itself, not from a space's trial parameters, so that one surrogate
format serves every space of the family (``dense_grid`` shares every choice across its blocks,
``dense_connectivity`` draws them per block). The sizes are passed in,
counted as the study counts them (:mod:`nas.models.size`).
"""

from __future__ import annotations

import math

from nas.genotype import Genotype

PATTERNS = ("full", "nearest", "odd_even", "clique")  # the searchable ones, each a one-hot column
# density: connections per full-dense block's (above 1 for a clique block, whose two stages both count);
# m: the predecessors a layer reads, nearest-m's m, a block's layers for the other patterns
PER_BLOCK = ("layers", "growth", "connections", "density", "m", "bottleneck", "separable", *PATTERNS)
WHOLE = ("log10_params", "log10_macs", "stem", "compression", "attention", "multiscale", "compress", "depth",
         "connections")
VERSION = 2  # a surrogate file records it: features computed otherwise would feed its trees nonsense


def names(blocks: int) -> list[str]:
    """The feature names of a network of ``blocks`` blocks, in the order :func:`of` gives the values."""
    return [f"block{i}.{f}" for i in range(1, blocks + 1) for f in PER_BLOCK] + [f"net.{f}" for f in WHOLE]


def of(genotype: Genotype, params: int, macs: int) -> list[float]:
    """The features of ``genotype``, whose counted size is ``params`` parameters and ``macs`` multiply-adds."""
    out: list[float] = []
    for b in genotype.blocks:
        if b.pattern not in PATTERNS:
            raise ValueError(f"a surrogate reads only the searchable patterns ({', '.join(PATTERNS)}), not {b.pattern}")
        full = b.layers * (b.layers + 1) // 2  # every layer reading the block input and every earlier layer
        out += [b.layers, b.growth, b.connections(), b.connections() / full,
                (b.m or 0) if b.pattern == "nearest" else b.layers, b.bottleneck or 0,
                float(b.conv == "separable"), *(float(b.pattern == p) for p in PATTERNS)]
    theta = [t.compression for t in genotype.transitions] or [1.0]
    out += [math.log10(params), math.log10(macs), genotype.stem.channels, sum(theta) / len(theta),
            float(any(t.attention for t in genotype.transitions)), float(genotype.head.kind == "multiscale"),
            float(genotype.head.compress), sum(b.layers for b in genotype.blocks),
            sum(b.connections() for b in genotype.blocks)]
    return out
