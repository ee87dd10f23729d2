"""Pack an image-folder dataset (``<root>/train/<class>/<image>``) into one file of encoded
images, and unpack it again: the compact way to carry CIFAR-10 to a machine without network.

    python benchmarks/gpu/pack.py pack ../shared/data/cifar10 bundle/cifar10.pack --per-class 4000
    python benchmarks/gpu/pack.py unpack bundle/cifar10.pack /tmp/cifar10      # → /tmp/cifar10/train/<class>/

The file holds the images' bytes as they are (JPEG stays JPEG: nothing is re-encoded or
decoded), their labels and the class names. ``--per-class`` keeps the first N files of
each class in name order (a subset that is the same on every run).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def pack(root: Path, out: Path, per_class: int | None = None) -> dict:
    classes = sorted(d.name for d in (root / "train").iterdir() if d.is_dir())
    blobs, labels, names = [], [], []
    for label, cls in enumerate(classes):
        files = sorted(p for p in (root / "train" / cls).iterdir() if p.suffix.lower() in SUFFIXES)
        for p in files[:per_class]:
            blobs.append(np.frombuffer(p.read_bytes(), np.uint8))
            labels.append(label)
            names.append(p.name)
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, data=np.concatenate(blobs), offsets=offsets, labels=np.array(labels, np.int16),
             classes=np.array(classes), names=np.array(names))
    final = out if out.suffix == ".npz" else out.with_name(out.name + ".npz")
    final.replace(out)  # np.savez appends .npz
    return {"images": len(blobs), "classes": len(classes), "bytes": out.stat().st_size}


def unpack(file: Path, root: Path) -> int:
    with np.load(file) as f:
        data, offsets, labels = f["data"], f["offsets"], f["labels"]
        classes, names = list(f["classes"]), list(f["names"])
    for cls in classes:
        (root / "train" / cls).mkdir(parents=True, exist_ok=True)
    for i, (label, name) in enumerate(zip(labels, names)):
        (root / "train" / classes[label] / name).write_bytes(data[offsets[i]:offsets[i + 1]].tobytes())
    return len(names)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("pack")
    a.add_argument("root", type=Path)
    a.add_argument("out", type=Path)
    a.add_argument("--per-class", type=int)
    b = sub.add_parser("unpack")
    b.add_argument("file", type=Path)
    b.add_argument("root", type=Path)
    args = p.parse_args()
    if args.command == "pack":
        print(pack(args.root, args.out, args.per_class))
    else:
        print(f"{unpack(args.file, args.root)} images → {args.root}/train")


if __name__ == "__main__":
    main()
