"""The trainer's images/s against a conventional PyTorch loop on the same model and images.

Reference: torchvision ``ImageFolder`` + transforms (RandomCrop(padding), flip,
ToTensor, Normalize) + ``DataLoader`` (worker processes, pinned memory on CUDA)
+ the textbook loop (fp32, same optimizer and loss). Ours: ``nas.training.trainer.fit`` on
the device-resident uint8 tensors (bf16 and channels-last on CUDA). Both train
the same genotype from the same initial weights for the same number of steps, in
this one process, two rounds each; the ratio is of the median rounds.

    python benchmarks/trainer_vs_dataloader.py [--root ../shared/data/cifar10] \\
        [--genotype densenet_bc40_k12] [--steps 20] [--batch-size 128] [--workers 2]

On a GPU it also prints the epoch time of DenseNet-BC-100 on 45k CIFAR-10
training images (``--genotype densenet_bc100_k12``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision import datasets, transforms

from nas import build_model
from nas.runtime import keep_freed_cpu_memory
from nas.training.config import TrainConfig
from nas.training.data import DataConfig, prepare
from nas.training.trainer import fit, param_groups


def reference_round(model, loader, steps: int, cfg: TrainConfig, device: torch.device) -> float:
    """Images/s of the conventional loop over ``steps`` batches, loading included."""
    # a constant small learning rate: this round measures throughput, not accuracy
    opt = torch.optim.SGD(param_groups(model, cfg.weight_decay), lr=cfg.lr * 0.1, momentum=cfg.momentum,
                          nesterov=cfg.nesterov)
    model.train()
    seen = 0
    start = time.perf_counter()
    for step, (x, y) in enumerate(loader):
        if step == steps:
            break
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = F.cross_entropy(model(x), y, label_smoothing=cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return seen / (time.perf_counter() - start)


def synthetic_folder(root: Path, n: int = 2560) -> Path:
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for i in range(n):
        d = root / "train" / f"c{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        img = torch.randint(0, 256, (32, 32, 3), dtype=torch.uint8, generator=g).numpy()
        Image.fromarray(img).save(d / f"{i}.jpg", quality=90)
    return root


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_root = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"
    p.add_argument("--root", type=Path, default=default_root if default_root.is_dir() else None,
                   help="image folder with train/<class>/ (default: ../shared/data/cifar10, else synthetic JPEGs)")
    p.add_argument("--genotype", default="densenet_bc40_k12")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    device = torch.device(args.device)
    root = args.root or synthetic_folder(Path(tempfile.mkdtemp()) / "folder")

    n = args.steps * args.batch_size
    cfg = TrainConfig(epochs=1, batch_size=args.batch_size, progress=False, stop_at_chance=False)
    data = prepare(DataConfig("folder", str(root), train_size=n, val_size=max(10, args.batch_size // 4)), device,
                   channels_last=cfg.on(device).channels_last)
    size = data.image_size[0]
    mean, std = data.mean.tolist(), data.std.tolist()
    tf = transforms.Compose([transforms.RandomCrop(size, padding=4), transforms.RandomHorizontalFlip(),
                             transforms.ToTensor(), transforms.Normalize(mean, std)])
    folder = datasets.ImageFolder(str(root / "train"), transform=tf)
    subset = torch.utils.data.Subset(folder, torch.randperm(len(folder), generator=torch.Generator().manual_seed(0))[:n].tolist())
    loader = torch.utils.data.DataLoader(subset, batch_size=args.batch_size, shuffle=True, drop_last=True,
                                         num_workers=args.workers, pin_memory=device.type == "cuda",
                                         persistent_workers=args.workers > 0)

    torch.manual_seed(0)
    init = build_model(args.genotype, num_classes=data.num_classes).state_dict()
    # All reference rounds first: the commands tune the process's CPU allocator at start-up
    # (nas.runtime.keep_freed_cpu_memory), and the conventional loop must not inherit that.
    ref = []
    for _ in range(2):
        model = build_model(args.genotype, num_classes=data.num_classes)
        model.load_state_dict(init)
        ref.append(reference_round(model.to(device), loader, args.steps, cfg, device))
    keep_freed_cpu_memory()  # what python -m nas.train / nas.search set before training
    ours = []
    for _ in range(2):
        model = build_model(args.genotype, num_classes=data.num_classes)
        model.load_state_dict(init)
        ours.append(fit(model, data.train, data.val, cfg, num_classes=data.num_classes).images_per_second)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{args.genotype}, batch {args.batch_size}, {args.steps} steps per round, {name}; images from {root}")
    print(f"DataLoader loop ({args.workers} workers): {statistics.median(ref):8.1f} img/s   rounds {[round(r, 1) for r in ref]}")
    print(f"nas.training.trainer (device tensors):  {statistics.median(ours):8.1f} img/s   rounds {[round(r, 1) for r in ours]}")
    print(f"ratio trainer / DataLoader loop: {statistics.median(ours) / statistics.median(ref):.2f}x")
    if device.type == "cuda":
        full = prepare(DataConfig("folder", str(root), val_size=5000), device, channels_last=True)
        model = build_model(args.genotype, num_classes=full.num_classes)
        r = fit(model, full.train, full.val, TrainConfig(epochs=1, batch_size=args.batch_size, progress=False,
                                                         stop_at_chance=False), num_classes=full.num_classes)
        print(f"one epoch of {len(full.train)} images: {r.train_seconds:.1f} s ({r.images_per_second:.0f} img/s) on {name}")


if __name__ == "__main__":
    main()
