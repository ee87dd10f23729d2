"""Connectivity pruning: a sparser genotype from a trained model's connection strengths.

The DenseNet authors expected that a good pruning method could remove dense
connections at no cost. Here every layer of a dense block keeps the inputs whose
strength (:mod:`nas.training.heatmap`, normalised per layer) is at least ``threshold``, and
always its strongest one. The result is an ``explicit`` block with the same
layers, growth, bottleneck and conv, and the same block outputs. Clique blocks keep
their two-stage all-pairs structure and are left as they are.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nas.genotype import Block, Genotype, patterns
from nas.training.heatmap import Heatmap


def prune(genotype: Genotype, maps: list[Heatmap], threshold: float) -> Genotype:
    """``genotype`` without the connections weaker than ``threshold`` (0 < threshold ≤ 1).

    Returns ``genotype`` itself when no connection is that weak.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold={threshold}: strengths are normalised to [0, 1]; choose 0 < threshold ≤ 1")
    by_block = {m.block: m for m in maps if m.stage is None}
    blocks = []
    for i, block in enumerate(genotype.blocks, start=1):
        if patterns.get(block.pattern).two_stage:  # its stage-II reads are not a subset to prune
            blocks.append(block)
            continue
        if i not in by_block:
            raise ValueError(f"no heat map for block {i} of {genotype.name}")
        blocks.append(_prune_block(block, by_block[i].strength, threshold))
    if all(new is old for new, old in zip(blocks, genotype.blocks)):
        return genotype
    return dataclasses.replace(genotype, blocks=tuple(blocks))


def _prune_block(block: Block, strength: np.ndarray, threshold: float) -> Block:
    inputs = []
    for j, sources in enumerate(block.layer_inputs()):
        row = strength[j]
        kept = tuple(s for s in sources if row[s] >= threshold) or (max(sources, key=lambda s: row[s]),)
        inputs.append(kept)
    if tuple(inputs) == block.layer_inputs():
        return block
    return Block(block.layers, block.growth, "explicit", inputs=tuple(inputs), outputs=block.block_outputs(),
                 bottleneck=block.bottleneck, conv=block.conv)
