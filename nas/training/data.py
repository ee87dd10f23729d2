"""Datasets as uint8 tensors on the training device, split and augmented there.

The fastest CIFAR trainers keep the whole dataset on the accelerator and augment
it in batches; a search that judges hundreds of models cannot spend its time in
JPEG decoding or a Python data loader. So every dataset is decoded once into an
``(N, H, W, C)`` uint8 array, cached on disk, moved to the device, and batches are
cropped, flipped and normalised there with a handful of tensor ops.

The validation split is carved from the training images (stratified, seeded by
``split_seed``, the same for every trial); a test split is read only by
:func:`load_split` with ``split="test"``, which the training code calls only when
the user asks for test evaluation.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from nas.checks import boolean, require, whole
from nas.files import replacing, unwritable
from nas.training.memory import available_bytes

TORCHVISION_DATASETS = ("cifar10", "cifar100", "svhn", "mnist", "fashion_mnist")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class DataError(ValueError):
    """The dataset cannot be read as configured; the message says how to fix it."""


@dataclass(frozen=True)
class ImageSet:
    """Decoded images ``(N, H, W, C)`` uint8 with integer labels and class names."""

    images: Tensor
    labels: Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def channels(self) -> int:
        return self.images.shape[-1]

    @property
    def size(self) -> tuple[int, int]:
        return self.images.shape[1], self.images.shape[2]


# ---- reading ---------------------------------------------------------------------------


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "densenet-nas"


def load_split(name: str, root: str | Path, split: str = "train", *, image_size: int | None = None,
               download: bool = True, cache_dir: str | Path | None = None) -> ImageSet:
    """Decode a dataset split once and cache it; later calls load the cache in seconds.

    ``name`` is one of :data:`TORCHVISION_DATASETS` or ``folder`` (``root/train/<class>/*``,
    optional ``root/val`` or ``root/test``). ``image_size`` resizes to a square.
    """
    if split not in ("train", "test"):
        raise DataError(f"split {split!r}: use 'train' (validation is carved from it) or 'test'")
    root = Path(root).expanduser()
    if name == "folder":
        folder = _folder_split_dir(root, split)
        files, classes = _list_folder(folder)
        key = _listing_key(folder, files)
        return _cached(cache_dir, f"folder-{key}-{image_size}", lambda: _read_folder(files, classes, image_size))
    if name not in TORCHVISION_DATASETS:
        raise DataError(f"unknown dataset {name!r}; use one of {', '.join(TORCHVISION_DATASETS)}, folder")
    key = hashlib.sha256(f"{root.resolve()}|{name}|{split}".encode()).hexdigest()[:16]
    return _cached(cache_dir, f"{name}-{key}-{image_size}",
                   lambda: _resize(_read_torchvision(name, root, split, download), image_size))


def _cached(cache_dir: str | Path | None, key: str, read) -> ImageSet:
    path = Path(cache_dir or default_cache_dir()).expanduser() / f"{key}.pt"
    if path.is_file():  # a cache that is there is read, even from a folder this user cannot write
        data = torch.load(path, weights_only=True)
        return ImageSet(data["images"], data["labels"], tuple(data["classes"]))
    why = unwritable(path.parent)  # before decoding every image only to fail at writing them
    if why is not None:
        raise DataError(f"data.cache_dir={cache_dir if cache_dir else str(path.parent)}: {why}; "
                        "set data.cache_dir to a folder you can write")
    images = read()
    with replacing(path) as tmp:  # concurrent workers never read a half-written cache
        torch.save({"images": images.images, "labels": images.labels, "classes": list(images.classes)}, tmp)
    return images


def _folder_split_dir(root: Path, split: str) -> Path:
    if not root.is_dir():
        raise DataError(f"dataset folder {str(root)!r} does not exist; set data.root to a folder holding train/<class>/ images")
    if split == "train":
        folder = root / "train"
        if not folder.is_dir():
            raise DataError(f"{str(root)!r} has no train/ folder; expected {root}/train/<class>/<image>")
        return folder
    for name in ("test", "val"):
        if (root / name).is_dir():
            return root / name
    raise DataError(f"{str(root)!r} has no test/ or val/ folder to evaluate on")


def _list_folder(folder: Path) -> tuple[list[tuple[Path, int]], tuple[str, ...]]:
    classes = tuple(sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")))
    if not classes:
        raise DataError(f"{str(folder)!r} has no class folders; expected {folder}/<class>/<image>")
    files = []
    for label, cls in enumerate(classes):
        images = sorted(p for p in (folder / cls).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise DataError(f"class folder {str(folder / cls)!r} holds no images ({', '.join(IMAGE_SUFFIXES[:3])}, …); "
                            "add images or remove the folder")
        files += [(p, label) for p in images]
    return files, classes


def _listing_key(folder: Path, files: list[tuple[Path, int]]) -> str:
    """Changes when any file is added, removed, resized or touched."""
    h = hashlib.sha256(str(folder.resolve()).encode())
    for p, label in files:
        st = p.stat()
        h.update(f"{p.relative_to(folder)}|{label}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def folder_digest(root: str | Path, split: str = "train") -> str:
    """What identifies an image folder's split wherever it lies: a digest of its files' class, name and
    size (not its path or times, so a copy elsewhere has the same digest)."""
    folder = _folder_split_dir(Path(root).expanduser(), split)
    files, _ = _list_folder(folder)
    h = hashlib.sha256()
    for p, label in files:
        h.update(f"{p.relative_to(folder).as_posix()}|{label}|{p.stat().st_size}\n".encode())
    return h.hexdigest()[:16]


GREY_MODES = ("L", "1", "I;16", "I")  # PIL modes read as one channel


def _read_folder(files: list[tuple[Path, int]], classes: tuple[str, ...], image_size: int | None) -> ImageSet:
    from PIL import Image

    if image_size is not None:
        try:
            with Image.open(files[0][0]) as first:
                channels = 1 if first.mode in GREY_MODES else 3
        except (OSError, ValueError, SyntaxError):
            channels = 3  # the loop below names the unreadable file
        _check_room(len(files), image_size, channels, per_pixel=2)  # the arrays, then their stack
    mode = None
    arrays = []
    for p, _ in files:
        try:
            with Image.open(p) as im:
                grey = im.mode in GREY_MODES
                mode = mode or ("L" if grey else "RGB")
                if mode == "L" and not grey:
                    mode = "RGB"  # a colour image among grey ones: read everything as RGB
                    arrays = [np.repeat(a, 3, axis=2) for a in arrays]
                im = im.convert(mode)  # decodes the whole file: a truncated one fails here
                if image_size is not None and im.size != (image_size, image_size):
                    im = im.resize((image_size, image_size), Image.BILINEAR)
                a = np.asarray(im, dtype=np.uint8)
        except (OSError, ValueError, SyntaxError) as e:  # PIL's errors for files that are no (whole) image
            raise DataError(f"image {str(p)!r} cannot be read ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
                            "remove it or replace it with a valid image") from None
        arrays.append(a[:, :, None] if a.ndim == 2 else a)
    sizes = {a.shape[:2] for a in arrays}
    if len(sizes) > 1:
        raise DataError(f"images have different sizes ({', '.join(f'{h}×{w}' for h, w in sorted(sizes)[:3])}); "
                        "set data.image_size to resize them to one square size")
    labels = torch.tensor([label for _, label in files], dtype=torch.int64)
    return ImageSet(torch.from_numpy(np.stack(arrays)), labels, classes)


def _read_torchvision(name: str, root: Path, split: str, download: bool) -> ImageSet:
    import torchvision.datasets as tvd

    train = split == "train"
    cls = {"cifar10": tvd.CIFAR10, "cifar100": tvd.CIFAR100, "svhn": tvd.SVHN,
           "mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST}[name]
    kwargs = {"split": split} if name == "svhn" else {"train": train}
    try:
        ds = cls(str(root), download=False, **kwargs)
    except RuntimeError as missing:  # torchvision: "Dataset not found or corrupted"
        if not download:
            raise DataError(f"{name} not found under {str(root)!r} ({missing}); set data.download=true to fetch it, "
                            "or point data.root at an existing copy") from None
        try:
            ds = cls(str(root), download=True, **kwargs)
        except Exception as e:  # noqa: BLE001 - any network or disk failure of the download
            raise DataError(f"could not download {name} into {str(root)!r} ({type(e).__name__}: {str(e)[:200]}); "
                            "put a copy there (or point data.root at one), or use data=folder") from None
    data = np.asarray(ds.data)
    if name == "svhn":
        data = data.transpose(0, 2, 3, 1)  # stored (N, C, H, W)
    if data.ndim == 3:
        data = data[..., None]
    labels = np.asarray(ds.labels if name == "svhn" else ds.targets)
    classes = tuple(str(c) for c in getattr(ds, "classes", range(int(labels.max()) + 1)))
    if name == "svhn":
        classes = tuple(str(i) for i in range(10))
    return ImageSet(torch.from_numpy(np.ascontiguousarray(data)), torch.from_numpy(labels).long(), classes)


def _resize(images: ImageSet, image_size: int | None) -> ImageSet:
    if image_size is None or images.size == (image_size, image_size):
        return images
    n, (h, w) = len(images.labels), images.size
    # float32 copies: the source, the interpolated output and its rounding; then the uint8 result
    _check_room(n, image_size, images.channels, per_pixel=9, source_bytes=4 * n * images.channels * h * w)
    x = images.images.permute(0, 3, 1, 2).float()
    x = torch.nn.functional.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
    x = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    return ImageSet(x, images.labels, images.classes)


def _check_room(n: int, image_size: int, channels: int, per_pixel: int, source_bytes: int = 0) -> None:
    """Refuse an image size whose resizing needs more than this machine's free memory
    (``per_pixel`` bytes per output value at the peak, plus ``source_bytes``), before trying:
    the kernel would kill the run."""
    need = source_bytes + per_pixel * n * channels * image_size * image_size
    room = available_bytes("cpu")
    if need > room:
        raise DataError(f"data.image_size={image_size}: resizing {n:,} images to {image_size}×{image_size} needs "
                        f"~{need / 2**30:,.1f} GiB, and {room / 2**30:,.1f} GiB is free; choose a smaller "
                        "data.image_size (or fewer images)")


# ---- splitting -------------------------------------------------------------------------


def stratified_split(labels: Tensor, train_size: int | None, val_size: int, seed: int) -> tuple[Tensor, Tensor]:
    """Disjoint (train, validation) indices, each with the class proportions of ``labels``.

    The validation set depends only on ``val_size`` and ``seed`` — not on
    ``train_size`` — so runs with different training budgets are judged on the
    same images. The training subset is drawn from what remains.
    """
    n = len(labels)
    if val_size < 1 or val_size >= n:
        raise DataError(f"data.val_size={val_size}: must be between 1 and {n - 1} (the training split has {n} images)")
    if train_size is None:
        train_size = n - val_size
    if train_size < 1 or train_size > n - val_size:
        raise DataError(f"data.train_size={train_size}: at most {n - val_size} images remain after "
                        f"data.val_size={val_size} (of {n}); lower one of them")
    g = torch.Generator().manual_seed(seed)
    classes = torch.unique(labels)
    per_class = [c_idx[torch.randperm(len(c_idx), generator=g)] for c_idx in
                 (torch.nonzero(labels == c).flatten() for c in classes)]
    counts = torch.tensor([len(p) for p in per_class])
    val_counts = _apportion(counts, val_size)
    rest = [p[k:] for p, k in zip(per_class, val_counts.tolist())]
    train_counts = _apportion(torch.tensor([len(r) for r in rest]), train_size)
    val = torch.cat([p[:k] for p, k in zip(per_class, val_counts.tolist())])
    train = torch.cat([r[:k] for r, k in zip(rest, train_counts.tolist())])
    return train[torch.randperm(len(train), generator=g)], val.sort().values


def _apportion(counts: Tensor, total: int) -> Tensor:
    """Split ``total`` across classes in proportion to ``counts`` (largest remainder)."""
    exact = counts.double() * total / counts.sum()
    base = exact.floor().long()
    short = total - int(base.sum())
    order = torch.argsort(exact - base, descending=True, stable=True)
    base[order[:short]] += 1
    return torch.minimum(base, counts)


# ---- on-device batches -----------------------------------------------------------------


class DeviceData:
    """Images and labels on the training device; yields normalised float batches.

    Augmentation (random crop from a zero-padded image, horizontal flip) runs on
    the whole batch at once with index arithmetic; there is no per-image Python work.
    """

    def __init__(self, images: ImageSet, indices: Tensor, device: torch.device, mean: Tensor, std: Tensor,
                 *, crop_padding: int = 0, flip: bool = False, channels_last: bool = False) -> None:
        self.images = images.images[indices].to(device)  # (N, H, W, C) uint8
        self.labels = images.labels[indices].to(device)
        self.device = device
        self.mean = mean.to(device).view(1, 1, 1, -1) * 255
        self.std = std.to(device).view(1, 1, 1, -1) * 255
        self.crop_padding = crop_padding
        self.flip = flip
        self.channels_last = channels_last

    def __len__(self) -> int:
        return len(self.labels)

    def _finish(self, x: Tensor) -> Tensor:
        x = ((x.float() - self.mean) / self.std).permute(0, 3, 1, 2)  # NHWC storage = channels-last NCHW
        return x if self.channels_last else x.contiguous()

    def _augment(self, x: Tensor, g: torch.Generator) -> Tensor:
        b, h, w, _ = x.shape
        if self.crop_padding:
            p = self.crop_padding
            padded = torch.nn.functional.pad(x, (0, 0, p, p, p, p))
            dy = torch.randint(0, 2 * p + 1, (b, 1), device=self.device, generator=g)
            dx = torch.randint(0, 2 * p + 1, (b, 1), device=self.device, generator=g)
            rows = (dy + torch.arange(h, device=self.device))[:, :, None]
            cols = (dx + torch.arange(w, device=self.device))[:, None, :]
            x = padded[torch.arange(b, device=self.device)[:, None, None], rows, cols]
        if self.flip:
            mask = torch.rand(b, device=self.device, generator=g) < 0.5
            x = torch.where(mask[:, None, None, None], x.flip(2), x)
        return x

    def train_batches(self, batch_size: int, g: torch.Generator) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch of shuffled, augmented batches; drops a last batch smaller than
        ``batch_size`` (when there is more than one batch) so BN never sees tiny batches."""
        order = torch.randperm(len(self), device=self.device, generator=g)
        stop = len(self) - len(self) % batch_size if len(self) >= batch_size else len(self)
        for i in range(0, stop, batch_size):
            idx = order[i:i + batch_size]
            yield self._finish(self._augment(self.images[idx], g)), self.labels[idx]

    def eval_batches(self, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        for i in range(0, len(self), batch_size):
            yield self._finish(self.images[i:i + batch_size]), self.labels[i:i + batch_size]


def channel_stats(images: ImageSet, indices: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std in [0, 1] of the training subset (never of validation)."""
    total = torch.zeros(images.channels, dtype=torch.float64)
    squares = torch.zeros(images.channels, dtype=torch.float64)
    for chunk in indices.split(4096):  # chunks keep a 50k-image set from needing GBs of doubles
        x = images.images[chunk].reshape(-1, images.channels).double()
        total += x.sum(0)
        squares += x.square().sum(0)
    n = len(indices) * images.size[0] * images.size[1]
    mean = total / n
    std = (squares / n - mean.square()).clamp_min(0).sqrt()
    return (mean / 255).float(), (std / 255).clamp_min(1e-3).float()


# ---- configuration → device data ---------------------------------------------------------


@dataclass(frozen=True)
class DataConfig:
    """Mirrors ``conf/data/*.yaml``."""

    name: str = "cifar10"
    root: str = "data"
    download: bool = True
    train_size: int | None = None
    val_size: int = 5000
    split_seed: int = 0
    image_size: int | None = None
    crop_padding: int = 4
    flip: bool = True
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        """Settings of the wrong type or range, named before any image is read."""
        for name, check in (("val_size", whole(1)), ("train_size", whole(1, optional=True)), ("split_seed", whole(0)),
                            ("image_size", whole(1, optional=True)), ("crop_padding", whole(0)),
                            ("download", boolean), ("flip", boolean)):
            require(f"data.{name}", getattr(self, name), check, error=DataError,
                    hint=" (training images; null: all that remain after validation)" if name == "train_size" else "")


@dataclass
class PreparedData:
    """What a trainer needs, made once per study and shared by every trial."""

    train: DeviceData
    val: DeviceData
    classes: tuple[str, ...]
    in_channels: int
    image_size: tuple[int, int]
    mean: Tensor
    std: Tensor
    config: DataConfig

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def prepare(cfg: DataConfig, device: torch.device, *, channels_last: bool = False) -> PreparedData:
    """Load (cached), split and move the training images to ``device``. Reads no test split."""
    images = load_split(cfg.name, cfg.root, "train", image_size=cfg.image_size, download=cfg.download,
                        cache_dir=cfg.cache_dir)
    train_idx, val_idx = stratified_split(images.labels, cfg.train_size, cfg.val_size, cfg.split_seed)
    mean, std = channel_stats(images, train_idx)
    train = DeviceData(images, train_idx, device, mean, std, crop_padding=cfg.crop_padding, flip=cfg.flip,
                       channels_last=channels_last)
    val = DeviceData(images, val_idx, device, mean, std, channels_last=channels_last)
    return PreparedData(train, val, images.classes, images.channels, images.size, mean, std, cfg)


def prepare_test(data: PreparedData) -> DeviceData:
    """The test split, normalised like the training data. Only for explicit test evaluation."""
    cfg = data.config
    test = load_split(cfg.name, cfg.root, "test", image_size=cfg.image_size or data.image_size[0],
                      download=cfg.download, cache_dir=cfg.cache_dir)
    if test.classes != data.classes or test.size != data.image_size:
        raise DataError(f"the test split's classes or image size differ from the training split's "
                        f"({len(test.classes)} vs {len(data.classes)} classes, {test.size} vs {data.image_size})")
    return DeviceData(test, torch.arange(len(test)), data.train.device, data.mean, data.std,
                      channels_last=data.train.channels_last)
