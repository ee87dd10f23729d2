import pytest

from nas.genotype import Block, Genotype, Stem, Transition
from nas.genotype.presets import PRESETS
from nas.tabular import features
from nas.training.metrics import count


def _named(genotype):
    _, params, macs = count(genotype, num_classes=10, in_channels=3, image_size=(32, 32))
    return dict(zip(features.names(len(genotype.blocks)), features.of(genotype, params, macs))), params, macs


def test_a_densenet_bc_reads_as_three_full_bottleneck_blocks_with_its_counted_size():
    got, params, macs = _named(PRESETS["densenet_bc100_k12"])
    assert len(got) == len(features.names(3))
    for i in (1, 2, 3):
        assert (got[f"block{i}.layers"], got[f"block{i}.growth"], got[f"block{i}.bottleneck"]) == (16, 12, 4)
        assert got[f"block{i}.full"] == 1.0 and got[f"block{i}.nearest"] == got[f"block{i}.clique"] == 0.0
        assert got[f"block{i}.density"] == 1.0 and got[f"block{i}.connections"] == 16 * 17 // 2
    assert 10 ** got["net.log10_params"] == pytest.approx(params) and 10 ** got["net.log10_macs"] == pytest.approx(macs)
    assert (got["net.compression"], got["net.depth"], got["net.multiscale"]) == (0.5, 48, 0.0)


def test_the_connectivity_pattern_and_m_are_read_from_the_block():
    sparse = Genotype(Stem("cifar", 16), (Block(6, 8, "nearest", m=2, conv="separable"), Block(6, 8)),
                      (Transition(1.0),))
    got, _, _ = _named(sparse)
    assert got["block1.nearest"] == 1.0 and got["block1.m"] == 2 and got["block1.separable"] == 1.0
    assert got["block1.density"] < 1.0 == got["block2.density"]  # nearest-2 reads fewer predecessors
    assert got["block2.m"] == 6  # a full block reads every predecessor


def test_a_pattern_no_space_searches_is_refused():
    explicit = Genotype(Stem("cifar", 16), (Block(2, 8, "explicit", inputs=((0,), (0, 1)), outputs=(0, 1, 2)),))
    with pytest.raises(ValueError, match="only the searchable patterns"):
        features.of(explicit, 1000, 1000)
