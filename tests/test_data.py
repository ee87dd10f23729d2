import os

import pytest
import torch
from datasets import class_images, write_cifar, write_folder, write_mnist, write_svhn

from nas.training.data import (
    DataConfig,
    DataError,
    DeviceData,
    channel_stats,
    load_split,
    prepare,
    prepare_test,
    stratified_split,
)

CPU = torch.device("cpu")


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def test_image_folder_rgb(tmp_path, cache):
    root = write_folder(tmp_path / "ds", n_per_class=5, classes=3, size=8)
    s = load_split("folder", root, cache_dir=cache)
    assert s.images.shape == (15, 8, 8, 3) and s.images.dtype == torch.uint8
    assert s.classes == ("class_0", "class_1", "class_2")
    assert s.labels.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    expected, _ = class_images(5, 3, 8, 3)
    assert torch.equal(s.images, torch.from_numpy(expected))  # PNG is lossless


def test_image_folder_grey_and_resize(tmp_path, cache):
    root = write_folder(tmp_path / "ds", grey=True, size=10)
    s = load_split("folder", root, cache_dir=cache)
    assert s.channels == 1 and s.size == (10, 10)
    assert load_split("folder", root, image_size=6, cache_dir=cache).size == (6, 6)


def test_mixed_sizes_need_image_size(tmp_path, cache):
    root = write_folder(tmp_path / "ds", size=8)
    write_folder(tmp_path / "other", size=12)
    os.replace(tmp_path / "other/train/class_0/0000.png", root / "train/class_0/big.png")
    with pytest.raises(DataError, match="set data.image_size"):
        load_split("folder", root, cache_dir=cache)
    assert load_split("folder", root, image_size=8, cache_dir=cache).size == (8, 8)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda r: None, "does not exist"),
        (lambda r: r.mkdir(), "has no train/ folder"),
        (lambda r: (r / "train").mkdir(parents=True), "has no class folders"),
        (lambda r: (write_folder(r), (r / "train/empty").mkdir()), "holds no images"),
    ],
)
def test_folder_errors(tmp_path, cache, make, message):
    root = tmp_path / "ds"
    make(root)
    with pytest.raises(DataError, match=message):
        load_split("folder", root, cache_dir=cache)


def test_cache_is_reused_and_invalidated(tmp_path, cache):
    root = write_folder(tmp_path / "ds", n_per_class=4, classes=2)
    first = load_split("folder", root, cache_dir=cache)
    assert len(list(cache.glob("*.pt"))) == 1
    # Overwrite an image's bytes but keep its size and time stamp: the cache must answer.
    path = root / "train/class_0/0000.png"
    stat = path.stat()
    path.write_bytes(b"\0" * stat.st_size)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert torch.equal(load_split("folder", root, cache_dir=cache).images, first.images)
    # A new image changes the listing: the data are read again.
    write_folder(tmp_path / "more", n_per_class=1, classes=1, seed=5)
    os.replace(tmp_path / "more/train/class_0/0000.png", root / "train/class_1/extra.png")
    path.unlink()
    assert len(load_split("folder", root, cache_dir=cache)) == len(first)
    assert len(list(cache.glob("*.pt"))) == 2


@pytest.mark.parametrize("hundred", [False, True])
def test_cifar_formats(tmp_path, cache, monkeypatch, hundred):
    write_cifar(tmp_path / "c", monkeypatch, hundred=hundred)
    s = load_split("cifar100" if hundred else "cifar10", tmp_path / "c", download=False, cache_dir=cache)
    assert s.images.shape[1:] == (32, 32, 3) and len(s.classes) == (100 if hundred else 10)
    t = load_split("cifar100" if hundred else "cifar10", tmp_path / "c", "test", download=False, cache_dir=cache)
    assert (len(s), len(t)) == ((100, 100) if hundred else (100, 20))  # 5 training files for CIFAR-10


def test_svhn_format(tmp_path, cache, monkeypatch):
    write_svhn(tmp_path / "s", monkeypatch)
    s = load_split("svhn", tmp_path / "s", download=False, cache_dir=cache)
    assert s.images.shape == (30, 32, 32, 3) and sorted(set(s.labels.tolist())) == list(range(10))


@pytest.mark.parametrize("fashion", [False, True])
def test_mnist_formats(tmp_path, cache, fashion):
    write_mnist(tmp_path / "m", fashion=fashion)
    s = load_split("fashion_mnist" if fashion else "mnist", tmp_path / "m", download=False, cache_dir=cache)
    assert s.images.shape == (30, 28, 28, 1) and s.labels.tolist()[:4] == [0, 0, 0, 1]


def test_missing_torchvision_copy_says_how_to_fix(tmp_path, cache):
    with pytest.raises(DataError, match="not found under .*point data.root at an existing copy"):
        load_split("cifar10", tmp_path / "none", download=False, cache_dir=cache)
    with pytest.raises(DataError, match="unknown dataset 'imagenet'"):
        load_split("imagenet", tmp_path, cache_dir=cache)


def test_stratified_split_is_disjoint_proportional_and_deterministic():
    labels = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)
    train, val = stratified_split(labels, 50, 20, seed=3)
    assert len(train) == 50 and len(val) == 20 and not set(train.tolist()) & set(val.tolist())
    assert torch.bincount(labels[val]).tolist() == [12, 6, 2]
    assert torch.bincount(labels[train]).tolist() == [30, 15, 5]
    again = stratified_split(labels, 50, 20, seed=3)
    assert torch.equal(train, again[0]) and torch.equal(val, again[1])
    assert not torch.equal(val, stratified_split(labels, 50, 20, seed=4)[1])
    # validation does not depend on the training budget
    assert torch.equal(val, stratified_split(labels, 10, 20, seed=3)[1])
    assert len(stratified_split(labels, None, 20, seed=3)[0]) == 80


def test_split_errors():
    labels = torch.zeros(10, dtype=torch.long)
    with pytest.raises(DataError, match="data.train_size=9: at most 8"):
        stratified_split(labels, 9, 2, 0)
    with pytest.raises(DataError, match="data.val_size=10"):
        stratified_split(labels, None, 10, 0)


def test_validation_images_are_disjoint_from_training_images(tmp_path, cache):
    root = write_folder(tmp_path / "ds", n_per_class=20, classes=3, size=6)
    data = prepare(DataConfig("folder", str(root), train_size=30, val_size=15, cache_dir=str(cache)), CPU)
    as_bytes = lambda t: {bytes(img.numpy()) for img in t}  # noqa: E731
    train, val = as_bytes(data.train.images), as_bytes(data.val.images)
    assert len(train) == 30 and len(val) == 15 and not train & val


def test_test_split_only_on_request(tmp_path, cache):
    root = write_folder(tmp_path / "ds", n_per_class=6, classes=2, splits=("train", "test"))
    data = prepare(DataConfig("folder", str(root), val_size=4, cache_dir=str(cache)), CPU)
    assert len(list(cache.glob("*.pt"))) == 1  # only the training split was read
    test = prepare_test(data)
    assert len(test) == 12 and len(list(cache.glob("*.pt"))) == 2


def _device_data(crop=0, flip=False, n=8, size=6):
    images, labels = class_images(n // 2, 2, size, 3)
    from nas.training.data import ImageSet

    s = ImageSet(torch.from_numpy(images), torch.from_numpy(labels), ("a", "b"))
    idx = torch.arange(n)
    mean, std = channel_stats(s, idx)
    return DeviceData(s, idx, CPU, mean, std, crop_padding=crop, flip=flip), s


def test_normalisation_uses_training_statistics():
    data, s = _device_data()
    x, y = next(data.eval_batches(100))
    assert x.shape == (8, 3, 6, 6) and x.is_contiguous()
    assert torch.allclose(x.mean((0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(x.std((0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)


def test_augmentation_crops_and_flips_on_the_batch():
    data, _ = _device_data(crop=2, flip=True)
    g = torch.Generator().manual_seed(0)
    raw = data.images
    out = data._augment(raw, g)
    assert out.shape == raw.shape
    padded = torch.nn.functional.pad(raw, (0, 0, 2, 2, 2, 2))
    for i in range(len(raw)):  # every output is some crop of the padded image, maybe flipped
        crops = [padded[i, dy:dy + 6, dx:dx + 6] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], c) or torch.equal(out[i], c.flip(1)) for c in crops)
    assert not torch.equal(out, raw)


def test_epoch_visits_each_image_once_and_drops_small_last_batch():
    data, _ = _device_data(n=10)
    g = torch.Generator().manual_seed(0)
    batches = list(data.train_batches(4, g))
    assert [len(y) for _, y in batches] == [4, 4]
    assert len(list(data.train_batches(16, g))[0][1]) == 10  # fewer images than a batch: one batch
