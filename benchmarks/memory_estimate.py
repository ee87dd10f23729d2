"""Training-memory estimate against the measured peak, to calibrate the safety factor.

For each model and batch size a fresh subprocess trains a few steps with
``nas.training.trainer.fit`` (the loop every trial runs: channels-last, SGD with
Nesterov momentum; glibc told to keep freed memory, as the commands do) on synthetic CIFAR-sized
images and reports the peak it measured: the process's peak resident memory on
a CPU, the caching allocator's peak on CUDA. This process meanwhile computes
the estimate, so neither disturbs the other. Columns: the live-tensor peak
(:func:`nas.training.memory.live_tensor_peak`), the estimate with the device's
factor and allowance (:func:`estimate_training_bytes`), the measured peak, and
measured ÷ live (what the factor must cover) and estimate ÷ measured (≥ 1: safe).

    python benchmarks/memory_estimate.py [--steps 3] [--device cpu] [--only densenet40_k12]

One run at a time: DenseNet-BC-100 at batch 256 needs about 16 GB on a CPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch

from nas import Block, Genotype, Stem, Transition, build_model
from nas.genotype.presets import PRESETS
from nas.training.memory import estimate_training_bytes, live_tensor_peak

GiB = 2**30
SEPARABLE = Genotype(Stem("cifar", 24), (Block(16, 12, bottleneck=4, conv="separable"),) * 3,
                     (Transition(0.5),) * 2)
TINY = Genotype(Stem("cifar", 8), (Block(4, 4),) * 2, (Transition(0.5),))
MODELS = {
    "densenet_bc100_k12": PRESETS["densenet_bc100_k12"],
    "densenet40_k12": PRESETS["densenet40_k12"],
    "cliquenet_k36_t12": PRESETS["cliquenet_k36_t12"],
    "separable_bc": SEPARABLE,
    "tiny": TINY,
}
# (model, memory_efficient, batch size)
CASES = [(name, False, b) for name in MODELS for b in (64, 256)] + [
    ("densenet_bc100_k12", True, 64), ("densenet_bc100_k12", True, 256), ("densenet40_k12", True, 64)]


def child(name: str, memory_efficient: bool, batch: int, steps: int, device: str) -> None:
    """Train ``steps`` steps and print the trainer's measured peak as JSON."""
    from nas.runtime import keep_freed_cpu_memory
    from nas.training.config import TrainConfig
    from nas.training.data import DeviceData, ImageSet
    from nas.training.trainer import fit

    keep_freed_cpu_memory()  # as every command does at start-up
    torch.manual_seed(0)
    dev = torch.device(device)
    n_train, n_val = steps * batch, 32
    images = ImageSet(torch.randint(0, 256, (n_train + n_val, 32, 32, 3), dtype=torch.uint8),
                      torch.randint(0, 10, (n_train + n_val,)), tuple(str(i) for i in range(10)))
    mean, std = torch.full((3,), 0.5), torch.full((3,), 0.25)
    train = DeviceData(images, torch.arange(n_train), dev, mean, std, crop_padding=4, flip=True,
                       channels_last=True)
    val = DeviceData(images, torch.arange(n_train, n_train + n_val), dev, mean, std, channels_last=True)
    model = build_model(MODELS[name], num_classes=10, memory_efficient=memory_efficient)
    cfg = TrainConfig(epochs=1, batch_size=batch, eval_batch_size=n_val, memory_efficient=memory_efficient,
                      progress=False)
    start = time.perf_counter()
    result = fit(model, train, val, cfg, num_classes=10)
    print(json.dumps({"peak": result.peak_memory_bytes, "status": result.status,
                      "seconds": time.perf_counter() - start}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", action="append", help="model names to run (repeatable)")
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "MEMORY_EFFICIENT", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, me, batch = args.child
        child(name, me == "1", int(batch), args.steps, args.device)
        return

    device = torch.device(args.device)
    bf16 = device.type == "cuda"  # as TrainConfig.on resolves it
    print(f"{'model':<22} {'me':>2} {'batch':>5} {'live GiB':>9} {'estimate':>9} {'measured':>9} "
          f"{'meas/live':>9} {'est/meas':>8} {'est s':>6} {'train s':>7}")
    for name, me, batch in CASES:
        if args.only and name not in args.only:
            continue
        model = build_model(MODELS[name], num_classes=10, memory_efficient=me)
        kw = dict(batch_size=batch, image_size=(32, 32), in_channels=3, num_classes=10, device=device,
                  bf16=bf16, channels_last=True)
        live = live_tensor_peak(model, **kw)
        start = time.perf_counter()
        estimate = estimate_training_bytes(model, **kw)
        seconds = time.perf_counter() - start
        run = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--device", args.device,
                              "--child", name, str(int(me)), str(batch)], capture_output=True, text=True, check=False)
        if run.returncode:
            print(f"{name:<22} {int(me):>2} {batch:>5} child failed: {run.stderr.strip().splitlines()[-1:]}")
            continue
        measured = json.loads(run.stdout.strip().splitlines()[-1])
        peak = measured["peak"]
        print(f"{name:<22} {int(me):>2} {batch:>5} {live / GiB:>9.2f} {estimate / GiB:>9.2f} {peak / GiB:>9.2f} "
              f"{peak / live:>9.2f} {estimate / peak:>8.2f} {seconds:>6.2f} {measured['seconds']:>7.1f}",
              flush=True)


if __name__ == "__main__":
    main()
