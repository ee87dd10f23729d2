from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf

import nas
import search_spaces
from nas.genotype import Block, Genotype, Head, Stem, Transition
from nas.genotype.presets import PRESETS
from nas.models.size import size
from nas.section import Section
from nas.training.metrics import count

SPACES = Path(nas.__file__).parent / "conf" / "search_space"


def _both(genotype, image_size, classes=10, channels=3):
    counted = count(genotype, num_classes=classes, in_channels=channels, image_size=image_size)[1:]
    return counted, size(genotype, num_classes=classes, in_channels=channels, image_size=image_size)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_has_the_size_its_meta_model_counts(name):
    genotype = PRESETS[name]
    image = (64, 64) if genotype.stem.kind == "imagenet" else (32, 32)
    counted, closed = _both(genotype, image)
    assert closed == counted


@pytest.mark.parametrize("space", ["dense_connectivity", "cliquenet", "dense_grid"])
def test_random_genotypes_of_every_space_have_the_size_their_meta_model_counts(space):
    cfg = Section.of(OmegaConf.to_container(OmegaConf.load(SPACES / f"{space}.yaml"), resolve=True))
    module = search_spaces.get(space)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=11))
    for _ in range(12):
        trial = study.ask()
        genotype = module.suggest(trial, cfg)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        counted, closed = _both(genotype, (16, 16))
        assert closed == counted, genotype.name


@pytest.mark.parametrize("genotype", [
    Genotype(Stem("cifar", 8), (Block(4, 6, "clique", bottleneck=2, conv="separable"), Block(3, 6, "clique")),
             (Transition(0.5, attention=True),), Head("multiscale", compress=True)),
    Genotype(Stem("imagenet", 10), (Block(3, 4, "nearest", m=1), Block(5, 4, "odd_even", bottleneck=4, conv="separable")),
             (Transition(0.75),)),
], ids=["clique-attention-compress", "imagenet-stem-odd-sizes"])
def test_uncommon_layouts_and_odd_image_sizes_agree_too(genotype):
    for image in ((33, 35), (16, 16)):
        counted, closed = _both(genotype, image, classes=7, channels=1)
        assert closed == counted
