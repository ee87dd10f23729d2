import pytest
import torch

from nas.genotype import Block, Genotype, Head, Stem, Transition


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def small_genotype(pattern="full", conv="standard", bottleneck=None, theta=0.5, layers=4, growth=4,
                   attention=False, head=None, stem="cifar") -> Genotype:
    """Two small blocks of one kind: cheap enough to build hundreds of times on a CPU."""
    block = Block(layers, growth, pattern=pattern, m=2 if pattern == "nearest" else None,
                  bottleneck=bottleneck, conv=conv,
                  inputs=((0,), (0, 1), (1, 2), (0, 3))[:layers] if pattern == "explicit" else None)
    if head is None:
        head = Head("multiscale") if pattern == "clique" else Head()
    return Genotype(Stem(stem, 8), (block, block), (Transition(theta, attention),), head)
