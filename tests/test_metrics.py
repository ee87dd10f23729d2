import pytest
import torch

from nas import build_model
from nas.genotype import Block, Genotype, Head, Stem, Transition
from nas.training.metrics import PeakMemory, count, count_macs, count_params, inference_latency


def test_macs_count_convs_and_linear_by_hand():
    # stem 3→4 (3×3) at 8×8; one layer: 1×1 4→8, 3×3 8→2; transition 6→3 (1×1) at 8×8;
    # second block layer 3×3 3→2 at 4×4; linear 5→10. BN/ReLU/pool are not counted.
    g = Genotype(Stem("cifar", 4), (Block(1, 2, bottleneck=4), Block(1, 2)), (Transition(0.5),))
    model = build_model(g, num_classes=10)
    expected = 64 * (3 * 4 * 9) + 64 * (4 * 8) + 64 * (8 * 2 * 9) + 64 * (6 * 3) + 16 * (3 * 2 * 9) + 5 * 10
    assert count_macs(model, (8, 8)) == expected
    assert count_params(model) == (
        3 * 4 * 9 + 2 * 4 + 4 * 8 + 2 * 8 + 8 * 2 * 9 + 2 * 6 + 6 * 3 + 2 * 3 + 3 * 2 * 9 + 2 * 5 + 5 * 10 + 10
    )


def test_separable_macs_count_depthwise_and_pointwise():
    g = Genotype(Stem("cifar", 4), (Block(1, 2, conv="separable"),))
    macs = count_macs(build_model(g, num_classes=1), (4, 4))
    assert macs == 16 * (3 * 4 * 9) + 16 * (4 * 9 + 4 * 2) + 6


def test_macs_are_per_image_and_leave_training_mode_alone():
    model = build_model(Genotype(Stem("cifar", 4), (Block(2, 2),), head=Head()))
    model.train()
    a = count_macs(model, (8, 8))
    assert model.training
    assert count_macs(model, (16, 16)) == 4 * a - 3 * (8 * 10)  # convs scale with pixels, the linear layer not


def test_peak_memory_sees_a_large_temporary():
    with PeakMemory("cpu") as mem:
        big = torch.ones(1024, 1024)  # 4 MiB
        del big
        small = torch.ones(16)
    assert 4 * 2**20 <= mem.bytes < 4 * 2**20 + 4096
    assert small.sum() == 16


def test_latency_grows_with_batch_and_keeps_training_mode():
    model = build_model(Genotype(Stem("cifar", 8), (Block(3, 8),)))
    model.train()
    one = inference_latency(model, (16, 16), batch_size=1)
    many = inference_latency(model, (16, 16), batch_size=64, channels_last=True)
    assert 0 < one < many
    assert model.training


@pytest.mark.parametrize("kind", ["full", "separable", "clique", "clique_b_attention_c", "nearest", "imagenet"])
def test_macs_on_the_meta_device_equal_fvcores_count_of_the_real_model(kind):
    """fvcore traces the real model (allocated weights); ours runs on shapes alone. Same convention, same number."""
    import logging

    from conftest import small_genotype
    from fvcore.nn import FlopCountAnalysis

    genotype = {"full": small_genotype("full", bottleneck=4), "separable": small_genotype("full", conv="separable"),
                "clique": small_genotype("clique"), "nearest": small_genotype("nearest", layers=5),
                "clique_b_attention_c": small_genotype("clique", bottleneck=1, attention=True,
                                                       head=Head("multiscale", compress=True)),
                "imagenet": small_genotype("full", stem="imagenet")}[kind]
    size = (64, 48) if kind == "imagenet" else (12, 16)
    model = build_model(genotype, num_classes=7).eval()
    analysis = FlopCountAnalysis(model, torch.zeros(1, 3, *size))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    reference = sum(n for op, n in analysis.by_operator().items() if op in ("conv", "linear", "addmm", "matmul", "mm"))
    _, params, macs = count(genotype, num_classes=7, in_channels=3, image_size=size)
    assert macs == reference == count_macs(model, size) and params == count_params(model)


def test_any_genotype_is_counted_without_allocating_it():
    giant = Genotype(Stem("cifar", 16), (Block(40, 60_000), Block(40, 60_000)), (Transition(0.5),))
    model, params, macs = count(giant, num_classes=10, in_channels=3, image_size=(32, 32))
    assert params > 10**12 and macs > 10**15  # terabytes of weights, never allocated
    assert all(p.is_meta for p in model.parameters())
