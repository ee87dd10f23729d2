import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import small_genotype

from nas import Block, Genotype, Stem, Transition, build_model
from nas.training.memory import (
    CPU_ALLOWANCE,
    CPU_OVERHEAD,
    available_bytes,
    estimate_training_bytes,
    fit_batch,
    live_tensor_peak,
    memory_cap,
)
from nas.training.metrics import PeakMemory
from nas.training.trainer import param_groups

CIFAR = dict(image_size=(32, 32), in_channels=3, num_classes=10, device="cpu", bf16=False, channels_last=True)


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmRSS")


def test_estimate_grows_linearly_with_batch():
    model = build_model(small_genotype(growth=8))
    live = [live_tensor_peak(model, batch_size=b, **CIFAR) for b in (8, 16, 32, 64)]
    steps = [b - a for a, b in itertools.pairwise(live)]
    assert all(s > 0 for s in steps)
    assert steps[1] == pytest.approx(2 * steps[0], rel=0.05)
    assert steps[2] == pytest.approx(2 * steps[1], rel=0.05)
    estimates = [estimate_training_bytes(model, batch_size=b, **CIFAR) for b in (8, 16)]
    assert estimates == [math.ceil(CPU_OVERHEAD * v) + CPU_ALLOWANCE for v in live[:2]]


@pytest.mark.parametrize("memory_efficient", [False, True])
def test_estimate_covers_a_real_training_step(memory_efficient):
    model = build_model(small_genotype(bottleneck=4, layers=6, growth=8), memory_efficient=memory_efficient)
    live = live_tensor_peak(model, batch_size=16, **CIFAR)
    estimate = estimate_training_bytes(model, batch_size=16, **CIFAR)

    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(param_groups(model, 5e-4), lr=0.1, momentum=0.9, nesterov=True)
    x = torch.randn(16, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (16,))
    for _ in range(2):  # the second step has momentum buffers, as every later one
        with PeakMemory("cpu") as peak:
            loss = F.cross_entropy(model(x).float(), y, label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            del loss
    # Live tensors: a bound (parameters and momentum counted whole), and a tight one.
    assert peak.bytes <= live <= 1.5 * peak.bytes
    # With the allocator's factor and fixed allowance it stays a few times the live bytes.
    assert peak.bytes <= estimate <= CPU_OVERHEAD * 1.5 * peak.bytes + CPU_ALLOWANCE


def test_estimate_does_not_touch_the_model_or_the_random_state():
    model = build_model(small_genotype(layers=3))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    for method in ("meta", "real"):
        live_tensor_peak(model, batch_size=8, method=method, **CIFAR)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(rng, torch.get_rng_state())
    assert model.training


@pytest.mark.parametrize("kind", [dict(pattern="clique"), dict(pattern="clique", bottleneck=1),
                                  dict(conv="separable", bottleneck=4), dict(pattern="nearest", attention=True)])
@pytest.mark.parametrize("memory_efficient", [False, True])
def test_meta_agrees_with_the_real_fallback(kind, memory_efficient):
    """The real-device fallback (tiny batches, extrapolated) and the meta pass count the same."""
    model = build_model(small_genotype(**kind), memory_efficient=memory_efficient)
    meta = live_tensor_peak(model, batch_size=32, method="meta", **CIFAR)
    real = live_tensor_peak(model, batch_size=32, method="real", **CIFAR)
    assert meta == pytest.approx(real, rel=0.02)


def test_memory_efficient_needs_less_for_a_deep_block():
    g = Genotype(Stem("cifar", 16), (Block(24, 12),))
    plain = estimate_training_bytes(build_model(g), batch_size=64, **CIFAR)
    efficient = estimate_training_bytes(build_model(g, memory_efficient=True), batch_size=64, **CIFAR)
    assert efficient < 0.6 * plain


def test_bf16_estimate_is_smaller():
    model = build_model(small_genotype(layers=6, growth=8))
    fp32 = live_tensor_peak(model, batch_size=64, **CIFAR)
    bf16 = live_tensor_peak(model, batch_size=64, **{**CIFAR, "bf16": True})
    assert 0.4 * fp32 < bf16 < 0.75 * fp32


def test_the_estimate_runs_no_real_step_where_the_meta_device_can(monkeypatch):
    """Cheap because nothing is allocated or computed: the step runs on the meta device (its speed is
    benchmarks/memory_estimate.py's to measure)."""
    from nas.training import memory

    def real_step(*args, **kwargs):
        raise AssertionError("a real training step was run")

    monkeypatch.setattr(memory, "_real_step", real_step)
    assert estimate_training_bytes(build_model(small_genotype()), batch_size=256, **CIFAR) > 0


def test_giant_genotype_is_estimated_without_allocating():
    g = Genotype(Stem("cifar", 16), (Block(40, 4096),) * 3, (Transition(0.5),) * 2)
    rss = _rss()
    with torch.device("meta"):
        model = build_model(g)
    estimate = estimate_training_bytes(model, batch_size=256, **CIFAR)
    assert _rss() - rss < 300 * 2**20
    with open("/proc/meminfo") as f:
        total = int(next(line for line in f if line.startswith("MemTotal:")).split()[1]) * 1024
    assert estimate > 100 * total
    assert estimate > memory_cap(1.0, "cpu")


def test_available_bytes_and_memory_cap():
    available = available_bytes("cpu")
    assert 0 < available < 2**50
    assert memory_cap(0.5, "cpu", limit_bytes=12345) == 12345
    assert memory_cap(0.5, "cpu") == pytest.approx(available / 2, rel=0.1)
    for fraction in (0, -0.5, 1.5):
        with pytest.raises(ValueError):
            memory_cap(fraction, "cpu")
    with pytest.raises(ValueError):
        memory_cap(0.5, "cpu", limit_bytes=0)


def test_fit_batch_halves_until_it_fits():
    def per_image(b):
        return 1000 * b

    assert fit_batch(per_image, 256, cap=256_000) == 256
    assert fit_batch(per_image, 256, cap=100_000) == 64
    assert fit_batch(per_image, 256, cap=8_000) == 8
    assert fit_batch(per_image, 256, cap=7_999) is None
    assert fit_batch(per_image, 256, cap=7_999, min_batch=4) == 4
    assert fit_batch(per_image, 6, cap=10_000) == 6  # below min_batch but fits as configured


def test_fit_batch_with_the_estimate():
    model = build_model(small_genotype(growth=8))

    def estimate(b):
        return estimate_training_bytes(model, batch_size=b, **CIFAR)

    cap = estimate(32)
    assert fit_batch(estimate, 256, cap) == 32
    assert fit_batch(estimate, 256, estimate(8) - 1) is None


def test_an_averaging_protocol_counts_the_averages_copy_of_the_weights():
    model = build_model(small_genotype(layers=6, growth=8))
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    plain = estimate_training_bytes(model, batch_size=64, **CIFAR)
    averaged = estimate_training_bytes(model, batch_size=64, averaged=True, **CIFAR)
    assert averaged - plain >= weights
