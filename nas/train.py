"""``python -m nas.train``: train one genotype on the code path every search trial uses.

    python -m nas.train genotype=densenet_bc40_k12 data=folder data.root=../shared/data/cifar10 \\
        data.train_size=10000 data.val_size=2000 train.epochs=3 train.batch_size=128 seed=0

Prints progress, then as its last line one JSON object with ``val_accuracy``,
``images_per_second``, ``train_seconds``, ``params`` and the rest of the result.
The test split is read only with ``evaluate_test=true``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from nas import heatmap
from nas.cli import fail, run_app
from nas.data import DataConfig, DataError, PreparedData, prepare, prepare_test
from nas.genotype import Genotype, GenotypeError
from nas.metrics import count_macs, count_params
from nas.models import build_model, min_input_size
from nas.presets import resolve
from nas.trainer import TrainConfig, evaluate, fit


def resolve_device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ValueError(f"device={spec!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={spec!r}: this machine has no CUDA GPU; use device=cpu (or auto)")
    return device


def _dataclass_from(cls: type, group: str, values: dict[str, Any]) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{group}.{unknown[0]} is not a setting; {group} has {', '.join(sorted(known))}")
    return cls(**values)


def data_config(cfg: DictConfig) -> DataConfig:
    values = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    if OmegaConf.is_missing(cfg, "root"):
        raise DataError(f"data.root is not set; data={cfg.name} needs data.root=<folder with train/<class>/...>")
    return _dataclass_from(DataConfig, "data", values)


def train_config(cfg: DictConfig) -> TrainConfig:
    return _dataclass_from(TrainConfig, "train", OmegaConf.to_container(cfg, resolve=True))


def build_and_count(genotype: Genotype, data: PreparedData, *, seed: int,
                    memory_efficient: bool = False) -> tuple[torch.nn.Module, int, int]:
    """The seeded model for ``data`` with its parameter and multiply-add counts."""
    smallest = min_input_size(genotype)
    if min(data.image_size) < smallest:
        raise GenotypeError(f"{genotype.name} needs images of at least {smallest}×{smallest}, "
                            f"the data has {data.image_size[0]}×{data.image_size[1]}; set data.image_size")
    torch.manual_seed(seed)
    model = build_model(genotype, num_classes=data.num_classes, in_channels=data.in_channels,
                        memory_efficient=memory_efficient)
    return model, count_params(model), count_macs(model, data.image_size, data.in_channels)


def train_genotype(genotype: Genotype, data: PreparedData, cfg: TrainConfig, *, seed: int,
                   evaluate_test: bool = False,
                   built: tuple[torch.nn.Module, int, int] | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Build (unless ``built`` by :func:`build_and_count`), count and train one genotype:
    the unit of work of a search trial."""
    model, params, macs = built or build_and_count(genotype, data, seed=seed, memory_efficient=cfg.memory_efficient)
    result = fit(model, data.train, data.val, cfg, num_classes=data.num_classes, seed=seed)
    out = {"genotype": genotype.name, "genotype_id": genotype.id, **result.to_dict(), "params": params, "macs": macs,
           "device": str(data.train.device), "train_images": len(data.train), "val_images": len(data.val)}
    if evaluate_test and result.status not in ("diverged", "oom"):
        out["test_accuracy"], out["test_loss"] = evaluate(model, prepare_test(data), cfg.on(data.train.device))
    return model, out


def run(cfg: DictConfig, out_dir: Path | None = None) -> dict[str, Any]:
    """The whole command, without Hydra: testable with a composed config."""
    device = resolve_device(cfg.device)
    genotype = resolve(cfg.genotype)
    tcfg = train_config(cfg.train)
    data = prepare(data_config(cfg.data), device, channels_last=tcfg.on(device).channels_last)
    model, result = train_genotype(genotype, data, tcfg, seed=cfg.seed, evaluate_test=cfg.evaluate_test)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        genotype.save(out_dir / "genotype.yaml")
        (out_dir / "result.json").write_text(json.dumps(result, indent=2))
        if result["status"] == "ok":
            heatmap.write(model, out_dir / "heatmap.png", f"{genotype.name} ({result['val_accuracy']:.3f})")
        if cfg.save_checkpoint and result["status"] == "ok":
            torch.save({"genotype": genotype.to_dict(), "num_classes": data.num_classes,
                        "in_channels": data.in_channels, "mean": data.mean, "std": data.std,
                        "state_dict": model.state_dict()}, out_dir / "model.pt")
        result["run_dir"] = str(out_dir)
    return result


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    out_dir = Path(hydra.core.hydra_config.HydraConfig.get().runtime.output_dir)
    try:
        result = run(cfg, out_dir)
    except ValueError as e:  # DataError, GenotypeError: bad input, said in one line
        fail(e)
    if result["status"] != "ok":
        print(f"training stopped: {result['status']}: {result['reason']}", file=sys.stderr)
    summary = f"{result['genotype']}: val accuracy {result['val_accuracy']:.4f}, {result['params']:,} params, " \
              f"{result['images_per_second']:.1f} img/s, {result['train_seconds']:.1f} s training"
    print(summary)
    print(json.dumps({k: v for k, v in result.items() if k != "history"}))


def main() -> None:
    run_app(_hydra_main, "train", "python -m nas.train")


if __name__ == "__main__":
    main()
