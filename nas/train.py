"""``python -m nas.train``: train one genotype on the code path every search trial uses.

    python -m nas.train genotype=densenet_bc40_k12 data=folder data.root=../shared/data/cifar10 \\
        data.train_size=10000 data.val_size=2000 train.epochs=3 train.batch_size=128 seed=0

Prints progress, then as its last line one JSON object with ``val_accuracy``,
``images_per_second``, ``train_seconds``, ``params`` and the rest of the result.
The test split is read only with ``evaluate_test=true``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from nas.cli import fail_job, quiet_on_broken_pipe, run_app
from nas.files import strict_json
from nas.genotype.presets import resolve
from nas.runtime import startup
from nas.settings import data_config, train_config
from nas.training import checkpoint, heatmap
from nas.training.data import prepare, prepare_test
from nas.training.run import resolve_device, train_genotype
from nas.training.trainer import Outcome


def run(cfg: DictConfig, out_dir: Path | None = None) -> dict[str, Any]:
    """The whole command, without Hydra: testable with a composed config."""
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise ValueError(f"seed={cfg.seed}: must be a whole number ≥ 0")
    device = resolve_device(cfg.device)
    genotype = resolve(cfg.genotype)
    tcfg = train_config(cfg.train)
    data = prepare(data_config(cfg.data), device, channels_last=tcfg.on(device).channels_last)
    test = prepare_test(data) if cfg.evaluate_test else None  # read now, so a missing split fails before training
    model, result = train_genotype(genotype, data, tcfg, seed=cfg.seed, test=test)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        genotype.save(out_dir / "genotype.yaml")
        (out_dir / "result.json").write_text(json.dumps(strict_json(result), indent=2, allow_nan=False))
        if result["status"] == Outcome.OK:
            heatmap.write(model, out_dir / "heatmap.png", f"{genotype.name} ({result['val_accuracy']:.3f})")
        if cfg.save_checkpoint and result["status"] == Outcome.OK:
            checkpoint.save(out_dir / "model.pt", model, genotype, data)
        result["run_dir"] = str(out_dir)
    return result


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
@quiet_on_broken_pipe
def _hydra_main(cfg: DictConfig) -> None:
    startup()  # again: a launcher's workers enter here, not through main()
    out_dir = Path(hydra.core.hydra_config.HydraConfig.get().runtime.output_dir)
    try:
        result = run(cfg, out_dir)
    except ValueError as e:  # DataError, GenotypeError: bad input, said in one line
        fail_job(e)
    if result["status"] != Outcome.OK:
        print(f"training stopped: {result['status']}: {result['reason']}", file=sys.stderr)
    summary = f"{result['genotype']}: val accuracy {result['val_accuracy']:.4f}, {result['params']:,} params, " \
              f"{result['images_per_second']:.1f} img/s, {result['train_seconds']:.1f} s training"
    print(summary)
    print(json.dumps(strict_json({k: v for k, v in result.items() if k != "history"}), allow_nan=False))



def main() -> None:
    run_app(_hydra_main, "train", "python -m nas.train")


if __name__ == "__main__":
    main()
