"""Connection strengths on hand-built models whose weights are set to known values."""

import math

import numpy as np
import pytest
import torch

from nas import build_model
from nas.genotype import Block, Genotype, Head, Stem, Transition
from nas.training.heatmap import channel_strength, connection_strengths, plot

NAN = math.nan


def _fill_by_source(weight: torch.Tensor, widths: list[int], sources, value, dim: int = 1) -> None:
    """Give the input channels of each source s the weight ±value(s) (signs alternate: |w| counts)."""
    start = 0
    for s in sources:
        chunk = weight.narrow(dim, start, widths[s])
        signs = torch.where(torch.arange(chunk.numel()).reshape(chunk.shape) % 2 == 0, 1.0, -1.0)
        chunk.copy_(signs * value(s))
        start += widths[s]


def _genotype(pattern="full", conv="standard", bottleneck=None, head=None, m=None, layers=3):
    block = Block(layers, 2, pattern, m=m, bottleneck=bottleneck, conv=conv)
    return Genotype(Stem("cifar", 4), (block, block), (Transition(0.5),), head or Head())


def test_dense_block_rows_follow_the_weights():
    g = _genotype(pattern="nearest", m=2)
    model = build_model(g)
    block = model.features["denseblock1"]
    widths = g.blocks[0].source_channels(4)
    with torch.no_grad():
        for layer, sources in zip(block.values(), block.inputs):
            _fill_by_source(layer.conv1.weight, widths, sources, lambda s: 0.5 * (s + 1))
        _fill_by_source(model.features["transition1"].conv.weight, widths, range(4), lambda s: 4.0 - s)
    first = connection_strengths(model)[0]
    assert first.targets == ("1", "2", "3", "transition") and first.sources == ("in", "1", "2", "3")
    expected = np.array([[1, NAN, NAN, NAN],           # layer 1 reads the block input
                         [0.5, 1, NAN, NAN],           # layer 2: sources 0, 1 with weights 0.5, 1.0
                         [NAN, 2 / 3, 1, NAN],         # nearest-2: layer 3 reads 1, 2 (1.0, 1.5)
                         [1, 0.75, 0.5, 0.25]])        # the transition: 4, 3, 2, 1
    np.testing.assert_allclose(first.strength, expected, rtol=1e-6)


def test_classifier_row_of_the_last_block():
    g = _genotype()
    model = build_model(g, num_classes=3)
    channels = model.features["transition1"].conv.out_channels
    widths = g.blocks[1].source_channels(channels)
    with torch.no_grad():
        _fill_by_source(model.classifier.weight, widths, range(4), lambda s: 1.0 if s == 2 else 0.25)
    maps = connection_strengths(model)
    assert maps[0].targets[-1] == "transition" and maps[1].targets == ("1", "2", "3", "classifier")
    np.testing.assert_allclose(maps[1].strength[-1], [0.25, 0.25, 1, 0.25])


def test_separable_strength_is_the_product_of_its_parts():
    depthwise = torch.tensor([1.0, -2.0]).reshape(2, 1, 1, 1).expand(2, 1, 3, 3)
    pointwise = torch.tensor([[3.0, 1.0], [-1.0, 1.0]]).reshape(2, 2, 1, 1)
    # channel 0: mean |pw[:, 0]| = 2, mean |dw[0]| = 1; channel 1: 1 and 2
    assert channel_strength(depthwise, pointwise).tolist() == [2.0, 2.0]
    g = _genotype(conv="separable")
    model = build_model(g)
    layer = model.features["denseblock1"]["denselayer2"]
    widths = g.blocks[0].source_channels(4)
    with torch.no_grad():
        layer.conv1.depthwise.weight.fill_(1.0)
        _fill_by_source(layer.conv1.depthwise.weight, widths, (0, 1), lambda s: 2.0 if s == 0 else 1.0, dim=0)
        _fill_by_source(layer.conv1.pointwise.weight, widths, (0, 1), lambda s: 3.0)
    np.testing.assert_allclose(connection_strengths(model)[0].strength[1, :2], [1.0, 0.5])


def test_clique_stages_read_the_shared_filters():
    g = _genotype(pattern="clique", head=Head("multiscale"))
    model = build_model(g)
    block = model.features["denseblock1"]
    widths = g.blocks[0].source_channels(4)
    with torch.no_grad():
        for j, layer in enumerate(block.values(), start=1):  # filter channels: sources 0..n without j
            _fill_by_source(layer.filters.weight, widths, [s for s in range(4) if s != j], lambda s: s + 1.0)
    stage1, stage2 = connection_strengths(model)[:2]
    assert (stage1.stage, stage2.stage) == (1, 2) and stage2.targets[-2:] == ("transition", "classifier")
    np.testing.assert_allclose(stage1.strength[2], [1 / 3, 2 / 3, 1, NAN])      # layer 3 ← 0, 1, 2
    np.testing.assert_allclose(stage2.strength[0], [NAN, NAN, 3 / 4, 1])        # layer 1 ← 2, 3 (not the input)
    np.testing.assert_allclose(stage2.strength[1], [NAN, 2 / 4, NAN, 1])        # layer 2 ← 1, 3
    assert np.isnan(stage2.strength[-2, 0])  # the transition takes stage II only
    assert not np.isnan(stage2.strength[-1]).any()  # the classifier sees {input, stage II}


def test_a_compressed_multiscale_classifier_row_is_read_from_its_compressing_conv():
    g = _genotype(pattern="clique", head=Head("multiscale", compress=True))
    model = build_model(g, num_classes=2)
    pool = model.pools[0]
    with torch.no_grad():
        model.classifier.weight.fill_(1.0)  # past a ReLU: the classifier's weights say nothing about sources
        pool.conv.weight.zero_()
        pool.conv.weight[0, :4] = 2.0  # only the block-input channels are read
    row = connection_strengths(model)[1].strength[-1]
    np.testing.assert_allclose(row, [1, 0, 0, 0])


@pytest.mark.parametrize("pattern", ["full", "nearest", "odd_even", "clique"])
def test_every_pattern_plots(tmp_path, pattern):
    g = _genotype(pattern=pattern, m=2 if pattern == "nearest" else None, bottleneck=4 if pattern != "clique" else 1,
                  head=Head("multiscale") if pattern == "clique" else None)
    model = build_model(g)
    maps = connection_strengths(model)
    assert len(maps) == (4 if pattern == "clique" else 2)
    for m in maps:
        assert np.nanmax(m.strength, axis=1).tolist() == pytest.approx([1.0] * len(m.targets))
    if pattern != "clique":  # the drawn cells are the pattern's connections, valued from the weights
        block = g.blocks[0]
        reads = [set(sources) for sources in block.layer_inputs()] + [set(block.transit_sources())]
        assert [set(np.flatnonzero(~np.isnan(row))) for row in maps[0].strength] == reads
        layer, sources = model.features["denseblock1"]["denselayer3"], block.layer_inputs()[2]
        widths = block.source_channels(4)
        chunks = layer.conv1.weight.detach().abs().split([widths[s] for s in sources], dim=1)  # its inputs, in order
        mean = [c.mean().item() for c in chunks]
        np.testing.assert_allclose(maps[0].strength[2][list(sources)], np.array(mean) / max(mean), rtol=1e-5)
    path = plot(maps, tmp_path / "heatmap.png", title=g.name)
    assert path.stat().st_size > 10_000
