import pytest
import torch
import torchvision

from nas import build_model
from nas.genotype import GenotypeError
from nas.genotype.presets import PRESETS, cifar_densenet, cifar_densenet_bc, resolve
from nas.models import min_input_size
from nas.training.metrics import count_macs, count_params

# Huang et al. 2017, Table 2 (CIFAR, 10 classes), in millions as printed.
PAPER_PARAMS_M = {
    "densenet40_k12": 1.0,
    "densenet100_k12": 7.0,
    "densenet100_k24": 27.2,
    "densenet_bc100_k12": 0.8,
    "densenet_bc250_k24": 15.3,
    "densenet_bc190_k40": 25.6,
}
# Exact counts under the paper's rules; pinned so a change to the builder shows.
EXACT_PARAMS = {
    "densenet40_k12": 1_019_722,
    "densenet100_k12": 6_979_642,
    "densenet100_k24": 27_249_082,
    "densenet_bc40_k12": 176_122,
    "densenet_bc100_k12": 769_162,
    "densenet_bc250_k24": 15_324_406,
    "densenet_bc190_k40": 25_624_430,
    "cliquenet_k36_t12": 935_994,
    "cliquenet_k64_t15": 4_485_706,
}


@pytest.mark.parametrize("name", PAPER_PARAMS_M)
def test_cifar_presets_match_the_paper(name):
    params = count_params(build_model(name, num_classes=10))
    assert round(params / 1e6, 1) == PAPER_PARAMS_M[name]
    assert params == EXACT_PARAMS[name]


def test_cliquenet_matches_its_paper():
    # Yang et al. 2018, Table 1: T=12, k=36 has 0.94M parameters and 0.91 GFLOPs (= 2 × MACs).
    model = build_model("cliquenet_k36_t12")
    assert count_params(model) == EXACT_PARAMS["cliquenet_k36_t12"]
    assert round(count_params(model) / 1e6, 2) == 0.94
    assert round(2 * count_macs(model, (32, 32)) / 1e9, 2) == 0.91
    assert count_params(build_model("cliquenet_k64_t15")) == EXACT_PARAMS["cliquenet_k64_t15"]


@pytest.mark.parametrize("name", ["densenet121", "densenet169", "densenet201"])
def test_imagenet_presets_equal_torchvision(name):
    reference = getattr(torchvision.models, name)()
    assert count_params(build_model(name, num_classes=1000)) == count_params(reference)


def test_densenet121_macs_within_3_percent_of_paper():
    macs = count_macs(build_model("densenet121", num_classes=1000), (224, 224))
    assert abs(macs / 2.87e9 - 1) < 0.03


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_runs_forward(name):
    g = PRESETS[name]
    size = max(min_input_size(g), 8)
    model = build_model(name, num_classes=7).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, size, size))
    assert out.shape == (1, 7) and torch.isfinite(out).all()


def test_preset_rules_reject_impossible_depths():
    with pytest.raises(ValueError, match="divisible by 3"):
        cifar_densenet(41, 12)
    with pytest.raises(ValueError, match="divisible by 6"):
        cifar_densenet_bc(40 + 3, 12)


def test_resolve_presets_and_files(tmp_path):
    g = PRESETS["densenet_bc40_k12"]
    assert resolve("densenet_bc40_k12") is g
    assert resolve(g.save(tmp_path / "g.yaml")) == g
    assert build_model(str(tmp_path / "g.yaml")).genotype == g
    with pytest.raises(GenotypeError, match="neither a preset nor a file"):
        resolve("densenet_bc40")
