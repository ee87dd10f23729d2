import os

import postgres
import pytest
import torch

from nas.genotype import Block, Genotype, Head, Stem, Transition
from nas.runtime import startup


@pytest.fixture(autouse=True, scope="session")
def _startup():
    """What the commands set at start-up (the tests call the library without them)."""
    startup()


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


POSTGRES_PASSWORD = "pw-Zq7xK2-never-print-me"


@pytest.fixture(scope="session")
def postgres_url():
    """``postgresql://nas:<password>@127.0.0.1:<port>/postgres`` of a throwaway server."""
    if postgres.bindir() is None:
        if os.environ.get("CI"):
            pytest.fail(postgres.HOW_TO_ENABLE + " (.ci/run installs it)")
        pytest.skip(postgres.HOW_TO_ENABLE)
    with postgres.server(POSTGRES_PASSWORD) as url:
        yield url
