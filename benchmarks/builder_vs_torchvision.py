"""Train DenseNet-BC-100 (k=12) built from a genotype next to the same network
built from torchvision's DenseNet blocks, on the same batches in one process.

Prints images/s and peak training memory (forward + backward + SGD step) for each,
with the memory-efficient paths (ours: recompute in a custom autograd function;
torchvision: torch.utils.checkpoint), and the ratios between them.

    python benchmarks/builder_vs_torchvision.py [--batch-size 64] [--steps 5] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.densenet import _DenseBlock, _Transition

from nas import build_model
from nas.training.metrics import PeakMemory, PeakRSS, count_params


class TorchvisionCifarDenseNet(nn.Module):
    """torchvision's DenseNet blocks with the CIFAR stem: the reference design."""

    def __init__(self, growth: int, blocks: tuple[int, ...], stem: int, bn_size: int, theta: float,
                 num_classes: int, memory_efficient: bool) -> None:
        super().__init__()
        f: OrderedDict[str, nn.Module] = OrderedDict(conv0=nn.Conv2d(3, stem, 3, padding=1, bias=False))
        c = stem
        for i, n in enumerate(blocks, start=1):
            f[f"denseblock{i}"] = _DenseBlock(n, c, bn_size, growth, 0.0, memory_efficient)
            c += n * growth
            if i < len(blocks):
                f[f"transition{i}"] = _Transition(c, int(c * theta))
                c = int(c * theta)
        f["norm5"] = nn.BatchNorm2d(c)
        self.features = nn.Sequential(f)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.features(x), inplace=True)
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


def train_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    opt.step()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=5, help="timed steps per model (median is reported)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)

    ours = build_model("densenet_bc100_k12")
    models: dict[str, nn.Module] = {
        "builder": ours,
        "builder memory_efficient": build_model("densenet_bc100_k12", memory_efficient=True),
        "torchvision": TorchvisionCifarDenseNet(12, (16, 16, 16), 24, 4, 0.5, 10, False),
        "torchvision checkpoint": TorchvisionCifarDenseNet(12, (16, 16, 16), 24, 4, 0.5, 10, True),
    }
    for m in models.values():
        m.load_state_dict(ours.state_dict())  # same names, same weights: same function
        m.to(device).train()
    assert len({count_params(m) for m in models.values()}) == 1, "architectures differ"
    opts = {k: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, nesterov=True) for k, m in models.items()}

    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(args.batch_size, 3, 32, 32, generator=g).to(device),
                torch.randint(0, 10, (args.batch_size,), generator=g).to(device)) for _ in range(args.steps + 1)]
    with torch.no_grad():
        ref = models["torchvision"].eval()(batches[0][0])
        diff = (models["builder"].eval()(batches[0][0]) - ref).abs().max().item()
    for m in models.values():
        m.train()

    peak, rss = {}, {}
    for name, m in models.items():
        train_step(m, opts[name], *batches[0])  # warm-up: allocates gradients and momentum
        with PeakMemory(device) as mem:
            train_step(m, opts[name], *batches[0])
        peak[name] = mem.bytes
        if device.type == "cpu":
            with PeakRSS() as r:
                train_step(m, opts[name], *batches[0])
            rss[name] = r.bytes

    for name, m in models.items():  # one untimed round: the memory probes above emptied the heap
        train_step(m, opts[name], *batches[0])
    times: dict[str, list[float]] = {k: [] for k in models}
    names = list(models)
    for step, (x, y) in enumerate(batches[1:]):
        # interleaved, starting with a different model each round, so drift hits all alike
        for name in names[step % len(names):] + names[:step % len(names)]:
            m = models[name]
            sync(device)
            t0 = time.perf_counter()
            train_step(m, opts[name], x, y)
            sync(device)
            times[name].append(time.perf_counter() - t0)

    ips = {k: args.batch_size / statistics.median(v) for k, v in times.items()}
    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"DenseNet-BC-100 (k=12), {count_params(ours):,} params, batch {args.batch_size}, {dev}, "
          f"median of {args.steps} steps; eval outputs builder vs torchvision max |diff| {diff:.1e}")
    print("peak = live tensor bytes (CUDA allocator peak on a GPU; tracked per op on a CPU)")
    if rss:
        print("rss  = process resident-set peak: adds what glibc malloc keeps after tensors are freed")
    print(f"{'model':28s} {'img/s':>8s} {'peak MiB':>9s}" + (f" {'rss MiB':>8s}" if rss else ""))
    for name in models:
        print(f"{name:28s} {ips[name]:8.1f} {peak[name] / 2**20:9.0f}" + (f" {rss[name] / 2**20:8.0f}" if rss else ""))
    print()

    def ratios(label: str, a: str, b: str, speed: bool) -> None:
        r = ips[a] / ips[b] if speed else ips[b] / ips[a]
        line = f"{label:50s} {'speed' if speed else 'time '} {r:.2f}x   peak {peak[a] / peak[b]:.2f}x"
        print(line + (f"   rss {rss[a] / rss[b]:.2f}x" if rss else ""))

    ratios("builder / torchvision", "builder", "torchvision", speed=True)
    ratios("builder memory_efficient / builder", "builder memory_efficient", "builder", speed=False)
    ratios("torchvision checkpoint / torchvision", "torchvision checkpoint", "torchvision", speed=False)
    ratios("builder memory_efficient / torchvision checkpoint", "builder memory_efficient", "torchvision checkpoint", speed=True)


if __name__ == "__main__":
    main()
