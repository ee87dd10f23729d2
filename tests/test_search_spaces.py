from collections import Counter
from pathlib import Path

import optuna
import pytest
import torch
from omegaconf import OmegaConf

import search_spaces
from nas import build_model
from nas.genotype.presets import PRESETS
from search_spaces import baseline_params, genotype_from_params

CONF = Path(__file__).resolve().parents[1] / "conf" / "search_space"
optuna.logging.set_verbosity(optuna.logging.WARNING)


def space_cfg(name, **changes):
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    for k, v in changes.items():
        cfg[k] = v
    return cfg


def sample(name, n=200, seed=0, **changes):
    cfg = space_cfg(name, **changes)
    space = search_spaces.get(name)
    space.validate(cfg)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append((trial, space.suggest(trial, cfg)))
        study.tell(trial, 0.0)
    return cfg, space, out


def test_dense_connectivity_covers_every_pattern_and_conditional_parameter():
    cfg, _, samples = sample("dense_connectivity")
    patterns = Counter(b.pattern for _, g in samples for b in g.blocks)
    assert set(patterns) == {"full", "nearest", "odd_even", "clique"}
    assert {b.conv for _, g in samples for b in g.blocks} == {"standard", "separable"}
    assert {b.bottleneck for _, g in samples for b in g.blocks if b.pattern != "clique"} == {None, 2, 4}
    assert {b.bottleneck for _, g in samples for b in g.blocks if b.pattern == "clique"} == {None, 1}
    assert {g.transitions[0].compression for _, g in samples} == {0.5, 0.75, 1.0}
    assert {g.blocks[1].growth // g.blocks[0].growth for _, g in samples} == {1, 2}  # both schedules
    assert any(g.head.kind == "multiscale" for _, g in samples)
    for trial, g in samples:
        for i, b in enumerate(g.blocks, start=1):
            # conditional parameters exist exactly where they apply
            assert (f"block{i}.m" in trial.params) == (b.pattern == "nearest")
            assert (f"block{i}.clique_bottleneck" in trial.params) == (b.pattern == "clique")
            assert (f"block{i}.bottleneck" in trial.params) == (b.pattern != "clique")
            if b.pattern == "nearest":
                assert 1 <= b.m <= b.layers
    ms = {b.m for _, g in samples for b in g.blocks if b.pattern == "nearest"}
    assert min(ms) == 1 and max(ms) == 8


def test_cliquenet_space_covers_options():
    _, _, samples = sample("cliquenet", n=80)
    assert {g.transitions[0].attention for _, g in samples} == {False, True}
    assert {g.blocks[0].bottleneck for _, g in samples} == {None, 1}
    assert {g.head.compress for _, g in samples} == {False, True}
    assert all(g.head.kind == "multiscale" and g.blocks[0].pattern == "clique" for _, g in samples)


@pytest.mark.parametrize("name", ["dense_connectivity", "cliquenet"])
def test_parameters_alone_rebuild_the_genotype(name):
    cfg, space, samples = sample(name, n=50, seed=3)
    for trial, g in samples:
        assert genotype_from_params(space, cfg, dict(trial.params)).id == g.id


@pytest.mark.parametrize("name", ["dense_connectivity", "cliquenet"])
def test_sampled_genotypes_build_and_run(name):
    _, _, samples = sample(name, n=6, seed=1, layers=[2, 4] if name == "dense_connectivity" else [2, 3])
    for _, g in samples:
        out = build_model(g, num_classes=3).eval()(torch.randn(1, 3, 16, 16))
        assert out.shape == (1, 3)


def test_presets_inside_each_space_become_baselines():
    dense = baseline_params(search_spaces.get("dense_connectivity"), space_cfg("dense_connectivity"), PRESETS)
    assert set(dense) == {"densenet_bc40_k12", "densenet_bc100_k12"}  # plain DenseNets have a 16-channel stem
    clique = baseline_params(search_spaces.get("cliquenet"), space_cfg("cliquenet"), PRESETS)
    assert set(clique) == {"cliquenet_k36_t12", "cliquenet_k64_t15"}
    space, cfg = search_spaces.get("cliquenet"), space_cfg("cliquenet")
    assert genotype_from_params(space, cfg, clique["cliquenet_k36_t12"]) == PRESETS["cliquenet_k36_t12"]


def test_narrowed_space_drops_baselines_outside_it():
    cfg = space_cfg("dense_connectivity", layers=[4, 8])
    assert set(baseline_params(search_spaces.get("dense_connectivity"), cfg, PRESETS)) == {"densenet_bc40_k12"}


@pytest.mark.parametrize("name, changes, message", [
    ("dense_connectivity", {"layers": [1, 4]}, "clique blocks need at least 2 layers"),
    ("dense_connectivity", {"layers": [6, 4]}, "with 1 ≤ low ≤ high"),
    ("dense_connectivity", {"patterns": ["full", "spiral"]}, "'spiral' must be one of full, nearest, odd_even, clique"),
    ("dense_connectivity", {"m": [0, 3]}, "search_space.m"),
    ("dense_connectivity", {"growth": []}, "search_space.growth=[]: give a non-empty list of choices"),
    ("dense_connectivity", {"growth": [0]}, "search_space.growth=[0]: 0 must be a whole number ≥ 1"),
    ("dense_connectivity", {"compression": [2.0]}, "search_space.compression=[2.0]: 2.0 must be in (0, 1]"),
    ("dense_connectivity", {"conv": ["fancy"]}, "'fancy' must be one of standard, separable"),
    ("dense_connectivity", {"bottleneck": [None, -1]}, "-1 must be a whole number ≥ 1 or null"),
    ("dense_connectivity", {"growth_schedule": ["triple"]}, "'triple' must be one of constant, double"),
    ("dense_connectivity", {"blocks": 0}, "search_space.blocks=0: must be a whole number ≥ 1"),
    ("cliquenet", {"layers": [1, 3]}, "with 2 ≤ low ≤ high"),
    ("cliquenet", {"attention": ["yes"]}, "'yes' must be true or false"),
    ("cliquenet", {"stem_channels": [64, 0]}, "0 must be a whole number ≥ 1"),
    ("dense_connectivity", {"growth": [40000], "stem_multiplier": 2, "growth_schedule": ["constant"]}, "the stem reaches 80,000 channels"),
    ("dense_connectivity", {"growth": [20000], "growth_schedule": ["double"]}, "the widest growth rate reaches 80,000"),
    ("dense_connectivity", {"growth": [12], "bottleneck": [None, 10000], "growth_schedule": ["constant"]}, "a bottleneck reaches 120,000"),
    ("cliquenet", {"growth": [64], "bottleneck": [2000]}, "a bottleneck reaches 128,000"),
])
def test_space_config_validation(name, changes, message):
    with pytest.raises(ValueError) as e:
        search_spaces.get(name).validate(space_cfg(name, **changes))
    assert message in str(e.value)


def test_unknown_space():
    with pytest.raises(ValueError, match="unknown search space 'resnet'; choose one of dense_connectivity, cliquenet"):
        search_spaces.get("resnet")
