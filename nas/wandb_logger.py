"""Weights & Biases logging of a search; wandb is imported only when it is used.

Each trial is its own run (grouped by study, genotype as config, per-epoch
curves, final metrics as summary); one study run per invocation carries the
trials table, accuracy-vs-parameters/MACs scatter charts and the Pareto PNG,
logged again after every trial so the charts fill in as the study goes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

TABLE_COLUMNS = ("trial", "name", "genotype_id", "baseline", "pareto", "val_accuracy", "params", "macs",
                 "images_per_second", "peak_memory_bytes", "train_seconds")


class NullLogger:
    def trial(self, number: int, genotype: dict, params: dict, result: dict[str, Any],
              heatmap: Path | None = None) -> None:
        pass

    def study(self, rows: list[dict[str, Any]], pareto: set[int], out_dir: Path) -> None:
        pass

    def close(self) -> None:
        pass


class WandbLogger(NullLogger):
    def __init__(self, study_name: str, out_dir: Path, *, mode: str = "offline", project: str = "densenet-nas",
                 entity: str | None = None, config: dict[str, Any] | None = None) -> None:
        self.wandb = wandb = _wandb(mode)
        self.common = dict(project=project, entity=entity, group=study_name, mode=mode, dir=str(out_dir),
                           reinit="create_new", settings=wandb.Settings(silent=True))
        try:
            self.run = wandb.init(name=f"{study_name}-study", job_type="study", config=config or {}, **self.common)
        except Exception as e:  # noqa: BLE001 - wandb raises several types for a missing login
            raise ValueError(f"W&B could not start a {mode} run ({type(e).__name__}: {str(e).splitlines()[0][:160]}); "
                             "log in with `wandb login`, or use logger.mode=offline or logger=none") from None

    def trial(self, number: int, genotype: dict, params: dict, result: dict[str, Any],
              heatmap: Path | None = None) -> None:
        run = self.wandb.init(name=f"trial{number:04d}-{result.get('genotype', '')}", job_type="trial",
                              config={"trial": number, "genotype": genotype, "params": params}, **self.common)
        for h in result.get("history", []):
            run.log({k: v for k, v in h.items()}, step=h["epoch"])
        if heatmap is not None:
            run.log({"connection_strengths": self.wandb.Image(str(heatmap))})
        run.summary.update({k: v for k, v in result.items() if k != "history"})
        run.finish()

    def study(self, rows: list[dict[str, Any]], pareto: set[int], out_dir: Path) -> None:
        wandb = self.wandb
        data = [[r.get(c, "") if c != "pareto" else r["trial"] in pareto for c in TABLE_COLUMNS] for r in rows]
        table = wandb.Table(columns=list(TABLE_COLUMNS), data=data)
        logs: dict[str, Any] = {
            "trials": table,
            "accuracy_vs_params": wandb.plot.scatter(table, "params", "val_accuracy", title="validation accuracy vs parameters"),
            "accuracy_vs_macs": wandb.plot.scatter(table, "macs", "val_accuracy", title="validation accuracy vs multiply-adds"),
            "n_complete": len(rows),
        }
        png = out_dir / "pareto.png"
        if png.is_file():
            logs["pareto_png"] = wandb.Image(str(png))
        self.run.log(logs)

    def close(self) -> None:
        self.run.finish()


def _wandb(mode: str):
    """The wandb module, once the mode is known and, for online runs, credentials exist."""
    if mode not in ("offline", "online"):
        raise ValueError(f"logger.mode={mode!r}: use offline (no account needed) or online")
    try:
        import wandb
    except ImportError:
        raise ValueError("logger=wandb needs the wandb package (pip install wandb), or use logger=none") from None
    if mode == "online" and not _logged_in(wandb):
        raise ValueError("logger.mode=online needs W&B credentials: run `wandb login` or set WANDB_API_KEY — "
                         "or use logger.mode=offline (upload later with `wandb sync`) or logger=none")
    return wandb


def _logged_in(wandb) -> bool:
    try:
        return bool(wandb.login(prompt=False, verify=False))  # reads the key; asks no one, sends nothing
    except TypeError:  # wandb without prompt=
        return bool(os.environ.get("WANDB_API_KEY"))


def check(cfg: Any) -> None:
    """Refuse a logger setting before the search starts any work."""
    if cfg.name == "wandb":
        _wandb(cfg.mode)
    elif cfg.name != "none":
        raise ValueError(f"unknown logger {cfg.name!r}; use wandb or none")


def make_logger(cfg: Any, study_name: str, out_dir: Path, config: dict[str, Any]) -> NullLogger:
    if cfg.name == "none":
        return NullLogger()
    if cfg.name == "wandb":
        return WandbLogger(study_name, out_dir, mode=cfg.mode, project=cfg.project, entity=cfg.entity, config=config)
    raise ValueError(f"unknown logger {cfg.name!r}; use wandb or none")
