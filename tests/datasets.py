"""Small datasets written in the real on-disk formats, for tests without a network."""

from __future__ import annotations

import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image


def class_images(n_per_class: int, classes: int, size: int = 8, channels: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Distinct random images whose mean brightness encodes the class (so models can learn it)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), n_per_class)
    base = (labels * (200 // max(1, classes - 1)) + 20)[:, None, None, None]
    noise = rng.integers(-20, 21, size=(len(labels), size, size, channels))
    images = np.clip(base + noise, 0, 255).astype(np.uint8)
    return images, labels


def write_folder(root: Path, n_per_class: int = 12, classes: int = 3, size: int = 8, grey: bool = False,
                 splits: tuple[str, ...] = ("train",), seed: int = 0) -> Path:
    for k, split in enumerate(splits):
        images, labels = class_images(n_per_class, classes, size, 1 if grey else 3, seed + k)
        for i, (img, label) in enumerate(zip(images, labels)):
            d = root / split / f"class_{label}"
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img[:, :, 0] if grey else img).save(d / f"{i:04d}.png")
    return root


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_cifar(root: Path, monkeypatch, hundred: bool = False, n: int = 20) -> None:
    """CIFAR-10/100 python pickles; torchvision's md5 table is pointed at these files."""
    import torchvision.datasets as tvd

    cls = tvd.CIFAR100 if hundred else tvd.CIFAR10
    folder = root / cls.base_folder
    folder.mkdir(parents=True)
    classes = 100 if hundred else 10
    label_key = "fine_labels" if hundred else "labels"
    train_list, test_list = [], []
    train_names = {name for name, _ in cls.train_list}
    for name, _ in cls.train_list + cls.test_list:
        images, labels = class_images(max(1, n // classes), classes, 32, 3, seed=len(train_list) + len(test_list))
        data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, label_key: labels.tolist()}, f)
        (train_list if name in train_names else test_list).append([name, _md5(folder / name)])
    meta_key = cls.meta["key"]
    with open(folder / cls.meta["filename"], "wb") as f:
        pickle.dump({meta_key: [f"c{i}" for i in range(classes)]}, f)
    monkeypatch.setattr(cls, "train_list", train_list)
    monkeypatch.setattr(cls, "test_list", test_list)
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": _md5(folder / cls.meta["filename"])})


def write_svhn(root: Path, monkeypatch, n_per_class: int = 3) -> None:
    import scipy.io
    import torchvision.datasets as tvd

    root.mkdir(parents=True, exist_ok=True)
    split_list = dict(tvd.SVHN.split_list)
    for split in ("train", "test"):
        images, labels = class_images(n_per_class, 10, 32, 3, seed=split == "test")
        url, filename, _ = split_list[split]
        y = np.where(labels == 0, 10, labels)[:, None]  # SVHN stores digit 0 as label 10
        scipy.io.savemat(root / filename, {"X": images.transpose(1, 2, 3, 0), "y": y})
        split_list[split] = [url, filename, _md5(root / filename)]
    monkeypatch.setattr(tvd.SVHN, "split_list", split_list)


def write_mnist(root: Path, fashion: bool = False, n_per_class: int = 3) -> None:
    """The idx files torchvision's MNIST and FashionMNIST read (checked by name only)."""
    raw = root / ("FashionMNIST" if fashion else "MNIST") / "raw"
    raw.mkdir(parents=True)
    for prefix, seed in (("train", 0), ("t10k", 1)):
        images, labels = class_images(n_per_class, 10, 28, 1, seed)
        with open(raw / f"{prefix}-images-idx3-ubyte", "wb") as f:
            f.write(struct.pack(">IIII", 0x0803, len(images), 28, 28) + images[..., 0].tobytes())
        with open(raw / f"{prefix}-labels-idx1-ubyte", "wb") as f:
            f.write(struct.pack(">II", 0x0801, len(labels)) + labels.astype(np.uint8).tobytes())
