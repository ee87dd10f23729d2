"""Weights & Biases logging of a search; wandb is imported only when it is used.

Each trained trial is its own run (grouped by study, genotype as config, per-epoch
curves, its connection strengths as images, final metrics as summary). One study
run per worker carries the trials table (an incremental table: each completed
trial's row is sent once) and, logged whenever the outputs redraw their plots and
at the end, the accuracy-vs-parameters/MACs charts over all trials (Pareto set and
baselines marked) and the Pareto PNG.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from nas.files import trial_stem
from nas.outputs import plots
from nas.study.record import BASELINE

TABLE_COLUMNS = ("trial", "name", "genotype_id", BASELINE, "pareto", "val_accuracy", "params", "macs",
                 "images_per_second", "peak_memory_bytes", "train_seconds")


class NullLogger:
    def trial(self, record: Any) -> None:
        """A trained trial (a :class:`nas.study.record.TrialRecord`)."""

    def add_row(self, row: dict[str, Any], on_front: bool) -> None:
        """One completed trial's row of the study table."""

    def study(self, rows: list[dict[str, Any]], pareto: set[int], out_dir: Path) -> None:
        """Charts over all completed trials so far."""

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
        self.table = wandb.Table(columns=list(TABLE_COLUMNS), log_mode="INCREMENTAL")
        self.rows = 0

    def trial(self, record: Any) -> None:
        # The pip package list is saved once, with the study run: listing it costs ~0.25 s per run.
        common = {**self.common, "settings": self.wandb.Settings(silent=True, x_save_requirements=False)}
        run = self.wandb.init(name=trial_stem(record.number, record.genotype_name), job_type="trial",
                              config={"trial": record.number, "genotype": record.genotype, "params": record.params},
                              **common)
        for h in record.history:
            run.log(dict(h), step=h["epoch"])
        if record.heatmaps:
            run.log({f"connection_strengths/{_panel(m)}": self.wandb.Image(_picture(m["strength"]))
                     for m in record.heatmaps})
        run.summary.update(record.summary())
        run.finish()

    def add_row(self, row: dict[str, Any], on_front: bool) -> None:
        self.table.add_data(*[on_front if c == "pareto" else row.get(c, "") for c in TABLE_COLUMNS])
        self.rows += 1

    def study(self, rows: list[dict[str, Any]], pareto: set[int], out_dir: Path) -> None:
        wandb = self.wandb
        logs: dict[str, Any] = {
            # The rows added since the last call, as one increment: W&B shows the latest 100 increments.
            "trials": self.table, "n_complete": self.rows,
            # Plotly charts: W&B's own scatter cannot colour the Pareto set and the baselines apart.
            **{f"accuracy_vs_{key}": wandb.Plotly(plots.figure(rows, pareto, key, label))
               for key, label in plots.AXES},
        }
        png = out_dir / "pareto.png"
        if png.is_file():
            logs["pareto_png"] = wandb.Image(str(png))
        self.run.log(logs)

    def close(self) -> None:
        self.run.finish()


def _panel(m: dict[str, Any]) -> str:
    return f"block{m['block']}" + (f"_stage{m['stage']}" if m.get("stage") else "")


def _picture(strength: list[list[float]]) -> np.ndarray:
    """A heat map as an RGB image (targets down, sources across; white 0 → dark red 1), 8 px a cell:
    no plotting library in the loop."""
    s = np.nan_to_num(np.asarray(strength, float), nan=0.0).clip(0, 1)
    rgb = np.stack([1 - 0.45 * s, 1 - s, 1 - s], axis=-1)
    return (np.kron(rgb, np.ones((8, 8, 1))) * 255).astype(np.uint8)


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
