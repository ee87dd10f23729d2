import itertools

import pytest
import torch
import torch.nn.functional as F
import torchvision
from conftest import small_genotype

from nas import build_model
from nas.genotype import Block, Genotype, Head, Stem, Transition
from nas.models import min_input_size
from nas.models.clique import CliqueBlock
from nas.models.dense import DenseBlock
from nas.training.metrics import PeakMemory, count_params

PATTERNS = ("full", "nearest", "odd_even", "clique", "explicit")


@pytest.mark.parametrize(
    "pattern, conv, bottleneck, theta",
    list(itertools.product(PATTERNS, ("standard", "separable"), (None, 2), (1.0, 0.5))),
)
def test_forward_backward_every_combination(pattern, conv, bottleneck, theta):
    model = build_model(small_genotype(pattern, conv, bottleneck, theta), num_classes=5)
    x = torch.randn(2, 3, 12, 12)
    out = model(x)
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    out.logsumexp(1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("stem, size", [("cifar", (7, 9)), ("cifar", (33, 32)), ("imagenet", (29, 29)), ("imagenet", (64, 50))])
def test_layouts_take_any_input_size_they_allow(stem, size):
    g = small_genotype(stem=stem)
    model = build_model(g, num_classes=3, in_channels=1).eval()
    assert model(torch.randn(1, 1, *size)).shape == (1, 3)


def test_min_input_size():
    assert min_input_size(small_genotype(stem="cifar")) == 2
    assert min_input_size(small_genotype(stem="imagenet")) == 5
    g = small_genotype(stem="imagenet")
    build_model(g).eval()(torch.randn(1, 3, 5, 5))
    with pytest.raises(RuntimeError):
        build_model(g).eval()(torch.randn(1, 3, 4, 4))


def test_layer_widths_follow_connectivity():
    g = Genotype(Stem("cifar", 10), (Block(5, 3, pattern="nearest", m=2),))
    layers = list(build_model(g).features["denseblock1"].values())
    # layer 1 reads x0 (10); layer 2 x0 + l1 (13); later layers two k=3 predecessors
    assert [layer.norm1.num_features for layer in layers] == [10, 13, 6, 6, 6]
    g = Genotype(Stem("cifar", 10), (Block(4, 3, pattern="odd_even"),))
    layers = list(build_model(g).features["denseblock1"].values())
    assert [layer.norm1.num_features for layer in layers] == [10, 13, 13, 16]


def test_explicit_outputs_drive_transition_width():
    block = Block(3, 4, pattern="explicit", inputs=((0,), (1,), (0, 2)), outputs=(0, 3))
    g = Genotype(Stem("cifar", 6), (block, Block(2, 4)), (Transition(1.0),))
    model = build_model(g)
    assert model.features["transition1"].conv.in_channels == 6 + 4


def test_separable_conv_has_no_nonlinearity_between_depthwise_and_pointwise():
    model = build_model(small_genotype(conv="separable", bottleneck=None))
    conv = model.features["denseblock1"]["denselayer1"].conv1
    x = torch.randn(1, conv.depthwise.in_channels, 5, 5)
    expected = conv.pointwise(conv.depthwise(x))  # purely linear composition
    assert torch.allclose(conv(x), expected)
    assert conv.depthwise.groups == conv.depthwise.in_channels


def test_clique_stages_use_the_very_same_filter_tensors():
    g = small_genotype("clique", layers=4, growth=3)
    model = build_model(g)
    block = model.features["denseblock1"]
    assert isinstance(block, CliqueBlock)
    layer = block["cliquelayer3"]
    w1, _ = layer.stage_weights(1)
    w2, _ = layer.stage_weights(2)
    param = layer.filters.weight
    # both stages are views into one parameter: W_0j, W_1j, W_2j | W_1j, W_2j, W_4j
    assert w1.untyped_storage().data_ptr() == w2.untyped_storage().data_ptr() == param.untyped_storage().data_ptr()
    assert w1.shape[1] == 8 + 2 * 3 and w2.shape[1] == 3 * 3
    # one weight per ordered pair, not one per stage
    assert param.shape[1] == 8 + 3 * 3
    # separate BN per stage
    assert layer.norm_stage1 is not layer.norm_stage2


def test_clique_stage_two_gradients_reach_shared_filters():
    g = small_genotype("clique", layers=3, growth=3)
    model = build_model(g)
    block = model.features["denseblock1"]
    x = torch.randn(2, 8, 6, 6)
    transit, feature = block(x)
    assert transit.shape[1] == 9 and feature.shape[1] == 8 + 9
    transit.sum().backward()
    grad = block["cliquelayer2"].filters.weight.grad
    # W_12 is read in both stages, W_32 only in stage II, W_02 only in stage I
    assert grad[:, 8:11].abs().sum() > 0 and grad[:, 11:].abs().sum() > 0 and grad[:, :8].abs().sum() > 0


def test_clique_stage_two_reads_latest_versions():
    g = Genotype(Stem("cifar", 4), (Block(3, 2, pattern="clique"),), head=Head("multiscale"))
    block = build_model(g).features["denseblock1"].eval()
    seen = []
    for j, layer in enumerate(block.values(), start=1):
        layer.register_forward_hook(lambda mod, args, kwargs, out, j=j: seen.append((j, kwargs["stage"], [id(t) for t in args[0]], id(out))), with_kwargs=True)
    block(torch.randn(1, 4, 4, 4))
    out = {(j, s): o for j, s, _, o in seen}
    inputs = {(j, s): i for j, s, i, _ in seen}
    assert inputs[(1, 2)] == [out[(2, 1)], out[(3, 1)]]
    assert inputs[(2, 2)] == [out[(1, 2)], out[(3, 1)]]
    assert inputs[(3, 2)] == [out[(1, 2)], out[(2, 2)]]


def test_clique_options():
    g = Genotype(Stem("cifar", 8), (Block(3, 4, pattern="clique", bottleneck=1),) * 2,
                 (Transition(1.0, attention=True),), Head("multiscale", compress=True))
    model = build_model(g)
    layer = model.features["denseblock1"]["cliquelayer1"]
    assert layer.filters.kernel_size == (1, 1) and layer.conv3.kernel_size == (3, 3)  # option B
    assert "attention" in dict(model.features["transition1"].named_children())    # option A
    assert [p.out_channels for p in model.pools] == [(8 + 12) // 2, (12 + 12) // 2]  # option C
    assert model.classifier.in_features == 10 + 12
    model(torch.randn(2, 3, 8, 8)).sum().backward()


def test_option_c_compresses_with_bn_relu_on_both_sides_of_its_conv_as_the_authors_code():
    from nas.models.network import BlockPool

    pool = BlockPool(20, compress=True)
    assert [type(m).__name__ for m in pool.children()] == ["BatchNorm2d", "Conv2d", "BatchNorm2d"]
    assert (pool.conv.in_channels, pool.conv.out_channels, pool.conv.kernel_size) == (20, 10, (1, 1))
    assert sum(p.numel() for p in pool.parameters()) == 2 * 20 + 20 * 10 + 2 * 10
    x = torch.randn(4, 20, 5, 5)
    with torch.no_grad():
        pool.eval()
        expected = F.relu(pool.norm2(pool.conv(F.relu(pool.norm(x))))).mean(dim=(2, 3))
        assert torch.equal(pool(x), expected) and (pool(x) >= 0).all()  # the pooled features are past a ReLU
    # CliqueNet k=36, T=12 with options A, B and C on CIFAR-10 (the reference code's layout)
    g = Genotype(Stem("cifar", 64), (Block(4, 36, pattern="clique", bottleneck=1),) * 3,
                 (Transition(1.0, attention=True),) * 2, Head("multiscale", compress=True))
    assert count_params(build_model(g)) == 441_498 + 2 * ((64 + 144) // 2 + 2 * (144 + 144) // 2)


def _pair(genotype, dtype=torch.float64):
    torch.manual_seed(1)
    plain = build_model(genotype).to(dtype)
    efficient = build_model(genotype, memory_efficient=True).to(dtype)
    efficient.load_state_dict(plain.state_dict())
    return plain, efficient


@pytest.mark.parametrize("pattern, conv, bottleneck", list(itertools.product(PATTERNS, ("standard", "separable"), (None, 2))))
def test_memory_efficient_matches_plain(pattern, conv, bottleneck):
    plain, efficient = _pair(small_genotype(pattern, conv, bottleneck, attention=True))
    x = torch.randn(3, 3, 10, 10, dtype=torch.float64)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = plain(xa), efficient(xb)
    torch.testing.assert_close(ya, yb, rtol=0, atol=1e-12)
    ya.square().sum().backward()
    yb.square().sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-9, atol=1e-12)
    for (name, p), q in zip(plain.named_parameters(), efficient.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-9, atol=1e-12, msg=name)
    for (name, a), b in zip(plain.named_buffers(), efficient.buffers()):  # BN running stats too
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12, msg=name)


def test_memory_efficient_under_bf16_autocast():
    plain, efficient = _pair(small_genotype("full", bottleneck=2), torch.float32)
    x = torch.randn(4, 3, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ya, yb = plain(x), efficient(x)
    torch.testing.assert_close(ya, yb)
    ya.float().sum().backward()
    yb.float().sum().backward()
    for p, q in zip(plain.parameters(), efficient.parameters()):
        assert p.grad.dtype == q.grad.dtype == torch.float32
        torch.testing.assert_close(p.grad, q.grad, rtol=0.05, atol=0.05)


def test_memory_efficient_eval_and_no_grad_take_the_plain_path():
    plain, efficient = _pair(small_genotype(), torch.float32)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(plain.eval()(x), efficient.eval()(x), rtol=0, atol=0)


def _peak(layers: int, memory_efficient: bool) -> int:
    model = build_model(Genotype(Stem("cifar", 8), (Block(layers, 8, bottleneck=2),)), memory_efficient=memory_efficient)
    x = torch.randn(8, 3, 16, 16)
    model(x).sum().backward()
    with PeakMemory("cpu") as mem:
        model(x).sum().backward()
    return mem.bytes


def test_memory_efficient_training_memory_grows_linearly_with_depth():
    plain = [_peak(n, False) for n in (8, 16, 32)]
    efficient = [_peak(n, True) for n in (8, 16, 32)]
    # f(32) − f(16) over f(16) − f(8): 2 for linear growth, approaching 4 for quadratic
    assert (efficient[2] - efficient[1]) / (efficient[1] - efficient[0]) < 2.2
    assert (plain[2] - plain[1]) / (plain[1] - plain[0]) > 3.0
    assert efficient[2] < 0.5 * plain[2]


def test_torchvision_densenet121_weights_give_identical_outputs():
    ours = build_model("densenet121", num_classes=1000).eval()
    reference = torchvision.models.densenet121().eval()
    ours.load_state_dict(reference.state_dict())  # strict: same names and shapes
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=1e-5)


def test_dropout_only_in_training():
    d = small_genotype().to_dict()
    d["dropout"] = 0.5
    model = build_model(Genotype.from_dict(d))
    x = torch.randn(2, 3, 8, 8)
    model.eval()
    torch.testing.assert_close(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))


def test_build_model_is_pure():
    g = small_genotype("odd_even")
    torch.manual_seed(3)
    a = build_model(g)
    torch.manual_seed(3)
    b = build_model(g)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert a.genotype is g and count_params(a) == count_params(b)
    assert isinstance(a.features["denseblock1"], DenseBlock)
