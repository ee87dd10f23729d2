"""A genotype's parameters and multiply-adds in closed form, without building a module.

:func:`nas.training.metrics.count` builds the meta model and runs it: exact by construction, and
about half a second for a 50-layer network, which a trained trial never notices and a simulated
study of thousands of draws does. This walks the same layout the builder makes
(:mod:`nas.models.network`) and adds up each convolution's and linear layer's weights and
multiply-adds (per output position, times the positions), as the counter does. The tests hold
the two equal on every kind of block, stem, head and transition.
"""

from __future__ import annotations

from nas.genotype import Block, Genotype, patterns, transition_channels
from nas.models.network import check_input_size


def _conv(cin: int, cout: int, kernel: int, conv: str = "standard") -> int:
    """Weights of a k×k convolution, which are also its multiply-adds per output position."""
    if conv == "separable" and kernel > 1:
        return cin * kernel * kernel + cin * cout  # depthwise, then pointwise
    return cin * cout * kernel * kernel


def _dense_block(block: Block, channels: int, positions: int) -> tuple[int, int]:
    widths = block.source_channels(channels)
    params = macs = 0
    k, b = block.growth, block.bottleneck
    for sources in block.layer_inputs():
        width = sum(widths[s] for s in sources)
        if b is None:
            conv = _conv(width, k, 3, block.conv)
            params += 2 * width + conv
        else:
            conv = width * b * k + _conv(b * k, k, 3, block.conv)
            params += 2 * width + 2 * b * k + conv
        macs += conv * positions
    return params, macs


def _clique_block(block: Block, channels: int, positions: int) -> tuple[int, int]:
    widths = block.source_channels(channels)
    params = macs = 0
    k, b = block.growth, block.bottleneck
    all_in = channels + (block.layers - 1) * k
    stage2 = patterns.Clique.stage2_inputs(block.layers)
    for stage1_sources, stage2_sources in zip(block.layer_inputs(), stage2):
        reads = [sum(widths[s] for s in stage1_sources), sum(widths[s] for s in stage2_sources)]
        params += 2 * reads[0] + 2 * reads[1]  # each stage's own BN
        if b is None:
            params += _conv(all_in, k, 3, block.conv)
            macs += sum(_conv(r, k, 3, block.conv) for r in reads) * positions  # each stage a slice of the filters
        else:
            own = _conv(b * k, k, 3, block.conv)
            params += all_in * b * k + 2 * (2 * b * k) + own
            macs += sum(r * b * k + own for r in reads) * positions
    return params, macs


def size(genotype: Genotype, *, num_classes: int, in_channels: int, image_size: tuple[int, int]) -> tuple[int, int]:
    """``(parameters, multiply-adds)`` of the network for one image of ``image_size``, as
    :func:`nas.training.metrics.count` counts them; GenotypeError for images too small for it."""
    check_input_size(genotype, image_size)
    h, w = image_size
    stem = genotype.stem
    if stem.kind == "imagenet":
        h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1  # 7×7 conv, stride 2, padding 3
        params = _conv(in_channels, stem.channels, 7) + 2 * stem.channels
        macs = _conv(in_channels, stem.channels, 7) * h * w
        h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1  # 3×3 max-pool, stride 2, padding 1
    else:
        params = _conv(in_channels, stem.channels, 3)
        macs = params * h * w
    channels, pooled = stem.channels, []
    for i, block in enumerate(genotype.blocks, start=1):
        counted = (_clique_block if patterns.get(block.pattern).two_stage else _dense_block)(block, channels, h * w)
        params, macs = params + counted[0], macs + counted[1]
        pooled.append((block.feature_channels(channels), h * w))
        if i <= len(genotype.transitions):
            t = genotype.transitions[i - 1]
            transit = block.transit_channels(channels)
            channels = transition_channels(transit, t.compression)
            params += 2 * transit + transit * channels
            macs += transit * channels * h * w
            if t.attention:
                hidden = max(1, channels // 2)
                params += 2 * channels * hidden + hidden + channels
                macs += 2 * channels * hidden
            h, w = h // 2, w // 2
    if genotype.head.kind == "multiscale":
        head = 0
        for c, positions in pooled:
            params += 2 * c
            if genotype.head.compress:
                params += c * (c // 2) + 2 * (c // 2)
                macs += c * (c // 2) * positions
            head += c // 2 if genotype.head.compress else c
    else:
        head = pooled[-1][0]
        params += 2 * head
    params += head * num_classes + num_classes
    macs += head * num_classes
    return params, macs
