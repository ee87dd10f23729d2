"""Counting a genotype's parameters and multiply-adds: ``nas.training.metrics.count`` (meta device)
next to the way it was counted before, fvcore tracing the real, allocated model.

    python benchmarks/count_vs_fvcore.py [--rounds 3]

Per preset, in this process, alternating: "fvcore" builds the model with its weights and
traces it with ``FlopCountAnalysis``; "meta" builds it on the meta device and counts
convolutions and matrix products while it runs on shapes. Each row prints the median
seconds of each, fvcore's time over ours, the bytes of weights fvcore had to allocate
(ours allocates none), and whether the two counts are equal.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings

import torch

from nas.genotype.presets import PRESETS
from nas.models import build_model
from nas.training.metrics import count, count_params

OPS = ("conv", "linear", "addmm", "matmul", "mm")


def with_fvcore(genotype, size: int, classes: int) -> tuple[int, int, int]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    model = build_model(genotype, num_classes=classes).eval()
    analysis = FlopCountAnalysis(model, torch.zeros(1, 3, size, size))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    macs = int(sum(n for op, n in analysis.by_operator().items() if op in OPS))
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    return count_params(model), macs, weights


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    warm = PRESETS["densenet_bc40_k12"]  # first calls pay for imports and dispatcher set-up: not timed
    with_fvcore(warm, 32, 10)
    count(warm, num_classes=10, in_channels=3, image_size=(32, 32))
    print(f"{'preset':22s} {'fvcore s':>9s} {'meta s':>8s} {'ratio':>6s} {'weights fvcore allocates':>25s}  equal")
    for name, genotype in PRESETS.items():
        size, classes = (224, 1000) if genotype.stem.kind == "imagenet" else (32, 10)
        times: dict[str, list[float]] = {"fvcore": [], "meta": []}
        for _ in range(args.rounds):
            t = time.perf_counter()
            params_f, macs_f, weights = with_fvcore(genotype, size, classes)
            times["fvcore"].append(time.perf_counter() - t)
            t = time.perf_counter()
            _, params_m, macs_m = count(genotype, num_classes=classes, in_channels=3, image_size=(size, size))
            times["meta"].append(time.perf_counter() - t)
        f, m = statistics.median(times["fvcore"]), statistics.median(times["meta"])
        print(f"{name:22s} {f:9.3f} {m:8.3f} {f / m:6.1f} {weights / 2**20:21.1f} MiB  "
              f"{params_f == params_m and macs_f == macs_m}")


if __name__ == "__main__":
    main()
