"""Each zero-cost proxy against a value computed by hand or by a second route, on tiny networks."""

import math
import types

import numpy as np
import pytest
import torch
from conftest import small_genotype
from torch import nn

from nas.models import build_model
from nas.training import zero_cost


def _plain() -> nn.Module:
    """conv → BN → ReLU → mean → linear, no biases: homogeneous of degree 1 in each weight layer."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3, bias=False))


def _linear() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 3, bias=False))


def _batch(n=8, size=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g), torch.randint(0, 3, (n,), generator=g)


def test_synflow_is_the_number_of_weight_layers_times_the_synaptic_flow():
    """R is homogeneous of degree 1 in each weight layer, so Σ θ·∂R/∂θ over one layer is R (Euler)."""
    model = _plain()
    net = _plain().double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
        flow = float(net(torch.ones(1, 3, 5, 5, dtype=torch.float64)).sum())
    assert zero_cost.synflow(model, _batch(size=5)) == pytest.approx(2 * flow, rel=1e-9)


def test_snip_and_grad_norm_match_the_cross_entropy_gradient_by_hand():
    model, (x, y) = _linear(), _batch()
    w = model[1].weight.detach().double().numpy()
    a = x.flatten(1).double().numpy()
    z = a @ w.T
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = (p - np.eye(3)[y.numpy()]).T @ a / len(y)  # ∂ mean CE / ∂W
    assert zero_cost.snip(model, (x, y)) == pytest.approx(np.abs(w * g).sum(), rel=1e-5)
    assert zero_cost.grad_norm(model, (x, y)) == pytest.approx(np.linalg.norm(g), rel=1e-5)


def test_zico_matches_its_formula_over_two_batches_by_hand():
    model = _linear()
    batches = [_batch(seed=1), _batch(seed=2)]
    w = model[1].weight.detach().double().numpy()
    grads = []
    for x, y in batches:
        a = x.flatten(1).double().numpy()
        z = a @ w.T
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        grads.append((p - np.eye(3)[y.numpy()]).T @ a / len(y))
    g = np.stack(grads)
    expected = math.log((np.abs(g).mean(0) / g.std(0)).sum())
    assert zero_cost.zico(model, batches) == pytest.approx(expected, rel=1e-4)


def test_naswot_is_the_log_determinant_of_the_activation_code_kernel():
    model, (x, y) = _plain(), _batch(n=6, size=4)
    with torch.no_grad():  # the one BN's output, with its batch statistics (train mode)
        codes = (nn.functional.batch_norm(model[0](x), None, None, training=True) > 0).flatten(1).double().numpy()
    kernel = codes @ codes.T + (1 - codes) @ (1 - codes).T
    assert zero_cost.naswot(model, (x, y)) == pytest.approx(np.linalg.slogdet(kernel)[1], rel=1e-9)


@pytest.mark.parametrize("conv, bottleneck", [("standard", None), ("separable", 2)])
def test_meco_sees_every_convolution_of_a_dense_network(conv, bottleneck):
    """Dense layers convolve with F.conv2d on their weights: hooks on nn.Conv2d modules would miss them."""
    model = build_model(small_genotype("nearest", conv=conv, bottleneck=bottleneck), num_classes=3)
    x = _batch(n=4, size=8)[0]
    assert len(zero_cost._conv_outputs(model, x)) == sum(isinstance(m, nn.Conv2d) for m in model.modules())


def test_meco_is_the_smallest_eigenvalue_of_the_channel_correlation():
    model, (x, y) = _plain(), _batch(n=3, size=4)
    with torch.no_grad():
        f = model[0](x[:1])[0].flatten(1).double().numpy()
    assert zero_cost.meco(model, (x, y)) == pytest.approx(np.linalg.eigvalsh(np.corrcoef(f))[0], rel=1e-6)


@pytest.mark.parametrize("pattern, layers, density", [("full", 4, 1.0), ("nearest", 4, 3 / 6), ("odd_even", 4, None)])
def test_nn_mass_is_density_times_width_times_depth_per_block(pattern, layers, density):
    genotype = small_genotype(pattern, layers=layers, growth=4)
    block = genotype.blocks[0]
    inputs = block.layer_inputs()
    if density is None:  # by hand from the pattern's own inputs
        density = sum(len([s for s in src if s != i - 1]) for i, src in enumerate(inputs, 1)) / (layers * (layers - 1) / 2)
    assert zero_cost.nn_mass(genotype) == pytest.approx(2 * density * 4 * layers)


def test_a_proxy_that_cannot_apply_is_null_with_its_reason():
    genotype = small_genotype("clique", layers=2)
    model = build_model(genotype, num_classes=3)
    out = zero_cost.score(model, genotype, [_batch(n=4, size=8)], ("nn_mass", "zico", "synflow"))
    assert out["nn_mass"]["value"] is None and "clique" in out["nn_mass"]["reason"]
    assert out["zico"]["value"] is None and "two" in out["zico"]["reason"]
    assert out["synflow"]["value"] > 0 and out["synflow"]["seconds"] > 0 and out["synflow"]["reason"] == ""


def test_proxies_change_neither_weights_nor_bn_statistics_nor_gradients():
    genotype = small_genotype("nearest", bottleneck=2)
    model = build_model(genotype, num_classes=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = zero_cost.score(model, genotype, [_batch(n=4, size=8, seed=1), _batch(n=4, size=8, seed=2)])
    assert all(out[name]["value"] is not None for name in zero_cost.NAMES), out
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters()) and model.training


def test_score_runs_one_backward_pass_per_batch_for_the_gradient_proxies(monkeypatch):
    genotype = small_genotype("nearest", bottleneck=2)
    model = build_model(genotype, num_classes=3)
    batches = [_batch(n=4, size=8, seed=1), _batch(n=4, size=8, seed=2)]
    alone = {"grad_norm": zero_cost.grad_norm(model, batches[0]), "snip": zero_cost.snip(model, batches[0]),
             "zico": zero_cost.zico(model, batches)}
    passes = []
    real = zero_cost._loss_gradients
    monkeypatch.setattr(zero_cost, "_loss_gradients", lambda m, b: passes.append(b) or real(m, b))
    out = zero_cost.score(model, genotype, batches, ("grad_norm", "snip", "zico"))
    assert len(passes) == 2  # was 4: grad_norm, snip and ZiCo's first batch each ran their own
    assert {name: out[name]["value"] for name in alone} == pytest.approx(alone, rel=1e-6)


def test_a_shared_backward_pass_is_charged_in_shares_to_the_proxies_that_read_it(monkeypatch):
    genotype = small_genotype("nearest", bottleneck=2)
    model = build_model(genotype, num_classes=3)
    batches = [_batch(n=4, size=8, seed=1), _batch(n=4, size=8, seed=2)]
    real = zero_cost._loss_gradients
    clock = [0.0]  # a clock on which only the backward passes take time, 0.3 s each
    monkeypatch.setattr(zero_cost, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    monkeypatch.setattr(zero_cost, "_loss_gradients", lambda m, b: clock.__setitem__(0, clock[0] + 0.3) or real(m, b))
    both = zero_cost.score(model, genotype, batches, ("grad_norm", "snip"))
    assert both["grad_norm"]["seconds"] == pytest.approx(0.15) == both["snip"]["seconds"]  # half the pass each
    alone = zero_cost.score(model, genotype, batches, ("snip", "synflow"))
    assert alone["snip"]["seconds"] == pytest.approx(0.3) and alone["synflow"]["seconds"] == 0  # all of it; none
