import pytest
import torch
from conftest import small_genotype

from nas import build_model
from nas.genotype import Block, Genotype, Head, Stem, Transition
from nas.training.heatmap import connection_strengths
from nas.training.metrics import count_params
from nas.workers.prune import prune


def _connections(g: Genotype) -> int:
    return sum(b.connections() for b in g.blocks)


def _trained_like(genotype: Genotype, weak_source: int):
    """A model whose layers all weigh ``weak_source`` at a tenth of the rest."""
    model = build_model(genotype)
    channels = genotype.stem.channels
    with torch.no_grad():
        for i, block in enumerate(genotype.blocks, start=1):
            widths = block.source_channels(channels)
            module = model.features[f"denseblock{i}"]
            for layer, sources in zip(module.values(), module.inputs):
                start = 0
                for s in sources:
                    layer.conv1.weight[:, start:start + widths[s]] = 0.1 if s == weak_source else 1.0
                    start += widths[s]
            if f"transition{i}" in model.features:
                channels = model.features[f"transition{i}"].conv.out_channels
    return model


def test_pruning_drops_weak_connections_and_parameters():
    g = small_genotype(pattern="full", bottleneck=2, layers=4)
    model = _trained_like(g, weak_source=0)
    child = prune(g, connection_strengths(model), threshold=0.5)
    assert all(b.pattern == "explicit" for b in child.blocks)
    assert child.blocks[0].inputs == ((0,), (1,), (1, 2), (1, 2, 3))  # the block input survives only where alone
    assert child.blocks[0].outputs == g.blocks[0].block_outputs()
    assert _connections(child) < _connections(g)
    assert count_params(build_model(child)) < count_params(build_model(g))
    assert Genotype.from_dict(child.to_dict()) == child  # a valid genotype, round-trips
    build_model(child)(torch.randn(2, 3, 16, 16))


def test_nothing_weak_nothing_pruned():
    g = small_genotype(pattern="nearest")
    assert prune(g, connection_strengths(_trained_like(g, weak_source=-1)), threshold=0.5) is g


def test_clique_blocks_are_kept():
    g = Genotype(Stem("cifar", 8), (Block(3, 4, "clique"), Block(3, 4, "full")), (Transition(0.5),),
                 Head("multiscale"))
    maps = connection_strengths(build_model(g))
    weak = [m for m in maps if m.block == 2][0]
    weak.strength[2, 0] = 0.01
    child = prune(g, maps, threshold=0.5)
    assert child.blocks[0] == g.blocks[0] and child.blocks[1].inputs[2] == (1, 2)


def test_threshold_must_be_a_strength():
    g = small_genotype()
    with pytest.raises(ValueError, match="0 < threshold ≤ 1"):
        prune(g, connection_strengths(build_model(g)), threshold=1.5)
