import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from datasets import write_folder
from hydra import compose, initialize_config_dir

import nas
from nas.train import run

CONF = str(Path(nas.__file__).parent / "conf")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"


def _cfg(overrides):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


@pytest.fixture
def folder(tmp_path):
    return write_folder(tmp_path / "ds", n_per_class=24, classes=3, size=8)


def _overrides(folder, tmp_path, *extra):
    return ["data=folder", f"data.root={folder}", f"data.cache_dir={tmp_path / 'cache'}", "data.val_size=12",
            "train.epochs=2", "train.batch_size=16", "train.progress=false", "device=cpu",
            "train.stop_at_chance=false",  # 12 validation images cannot tell learning from guessing
            "genotype=densenet_bc40_k12", *extra]


def test_run_trains_and_writes_results(folder, tmp_path):
    result = run(_cfg(_overrides(folder, tmp_path)), tmp_path / "out")
    assert result["status"] == "ok" and 0 <= result["val_accuracy"] <= 1
    assert result["params"] == 176_122 - 10 * 133 + 3 * 133  # 3 classes instead of 10
    assert result["train_images"] == 60 and result["val_images"] == 12
    saved = json.loads((tmp_path / "out/result.json").read_text())
    assert saved["val_accuracy"] == result["val_accuracy"] and len(saved["history"]) == 2
    checkpoint = torch.load(tmp_path / "out/model.pt", weights_only=True)
    model = nas.build_model(nas.Genotype.from_dict(checkpoint["genotype"]), num_classes=3)
    model.load_state_dict(checkpoint["state_dict"])
    assert nas.Genotype.load(tmp_path / "out/genotype.yaml") == nas.PRESETS["densenet_bc40_k12"]
    maps = json.loads((tmp_path / "out/heatmap.json").read_text())
    assert (tmp_path / "out/heatmap.png").is_file() and [m["block"] for m in maps] == [1, 2, 3]
    assert "test_accuracy" not in result


def test_trains_a_genotype_file(folder, tmp_path):
    path = nas.PRESETS["densenet_bc40_k12"].save(tmp_path / "exported.yaml")
    result = run(_cfg(_overrides(folder, tmp_path, f"genotype={path}", "train.epochs=1")))
    assert result["status"] == "ok" and result["genotype_id"] == nas.PRESETS["densenet_bc40_k12"].id


def test_same_seed_same_accuracy(folder, tmp_path):
    a = run(_cfg(_overrides(folder, tmp_path, "seed=3")))
    b = run(_cfg(_overrides(folder, tmp_path, "seed=3")))
    assert f"{a['val_accuracy']:.4f}" == f"{b['val_accuracy']:.4f}" and a["val_loss"] == b["val_loss"]


def test_test_split_only_with_flag(tmp_path):
    root = write_folder(tmp_path / "ds", n_per_class=10, classes=2, size=8, splits=("train", "test"))
    result = run(_cfg(_overrides(root, tmp_path, "evaluate_test=true", "data.val_size=4")))
    assert 0 <= result["test_accuracy"] <= 1


def test_a_missing_test_split_is_refused_before_any_training(tmp_path, monkeypatch):
    from nas.training import run as training_run
    from nas.training.data import DataError

    root = write_folder(tmp_path / "ds", n_per_class=10, classes=2, size=8)  # train/ only
    monkeypatch.setattr(training_run, "fit", lambda *a, **k: pytest.fail("trained before reading the test split"))
    with pytest.raises(DataError, match="has no test/ or val/ folder"):
        run(_cfg(_overrides(root, tmp_path, "evaluate_test=true", "data.val_size=4")))
    work = tmp_path / "work"
    work.mkdir()
    proc = _cli(*_overrides(root, tmp_path, "evaluate_test=true", "data.val_size=4"), cwd=work)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ") and "has no test/ or val/ folder" in proc.stderr
    assert list(work.iterdir()) == []  # no run folder left


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "nas.train", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_last_line_is_json(folder, tmp_path):
    proc = _cli(*_overrides(folder, tmp_path, "train.epochs=1"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("val_accuracy", "images_per_second", "train_seconds", "params"):
        assert key in result
    assert 0 <= result["val_accuracy"] <= 1 and isinstance(result["params"], int)
    assert Path(result["run_dir"]).is_relative_to(tmp_path / "runs" / "train")


@pytest.mark.parametrize("extra, message", [
    (["genotype=densenet_bc41"], "neither a preset nor a file"),
    (["data.val_size=1000"], "data.val_size=1000"),
    (["data.root=/nonexistent/place"], "does not exist"),
    (["train.epochs=0"], "train.epochs=0"),
    (["device=cuda:0"] if not torch.cuda.is_available() else ["device=tpu"], "device="),
])
def test_cli_bad_input_is_one_line(folder, tmp_path, extra, message):
    proc = _cli(*_overrides(folder, tmp_path), *extra, cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_folder_without_root_is_explained(tmp_path):
    proc = _cli("data=folder", "train.epochs=1", cwd=tmp_path)
    assert proc.returncode == 2 and "data.root is not set" in proc.stderr


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/cifar10 (present in CI)")
def test_real_cifar10_subset_learns(tmp_path):
    cfg = _cfg(["data=folder", f"data.root={SHARED}", "data.train_size=1000", "data.val_size=500",
                "train.epochs=2", "train.batch_size=64", "train.progress=false", "device=cpu",
                "genotype=densenet_bc40_k12"])
    result = run(cfg)
    assert result["status"] == "ok" and result["val_accuracy"] > 0.2  # chance is 0.1


def test_a_diverged_run_writes_strict_json(folder, tmp_path):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    result = run(_cfg(_overrides(folder, tmp_path, "train.lr=1e30")), tmp_path / "out")
    assert result["status"] == "diverged"
    saved = json.loads((tmp_path / "out/result.json").read_text(), parse_constant=refuse)
    assert saved["val_loss"] is None and saved["status"] == "diverged"
