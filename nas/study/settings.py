"""A search's top-level settings and constraints, refused with one line before any work."""

from __future__ import annotations

import re

from omegaconf import DictConfig

import search_spaces
from nas.checks import fraction, require, whole
from nas.study.storage import check_storage
from nas.training.data import PreparedData


def check_settings(cfg: DictConfig) -> None:
    """Top-level settings with the wrong type or range, and a storage that cannot work."""
    check_study_name(cfg.study_name)
    for key, check in (("n_trials", whole(1)), ("seed", whole(0)), ("worker", whole(0)),
                       ("max_params", whole(1, optional=True)), ("max_macs", whole(1, optional=True))):
        require(key, cfg[key], check, show=str,
                hint=" (the study's total number of trials)" if key == "n_trials" else "")
    require("gpu_memory_share", cfg.gpu_memory_share, lambda v: "" if v is None else fraction(v), show=str,
            hint=" (the share of its GPU's memory this worker may allocate), or null")
    threshold = cfg.prune_threshold
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not 0 < threshold <= 1):
        raise ValueError(f"prune_threshold={threshold}: connection strengths are normalised to [0, 1]; "
                         "choose 0 < prune_threshold ≤ 1, or null for no pruning")
    every = cfg.plot_every
    if isinstance(every, bool) or not isinstance(every, (int, float)) or every < 0:
        raise ValueError(f"plot_every={every}: seconds between plot refreshes while the study runs "
                         "(≥ 0; 0 redraws after every trial that changes the front)")
    if cfg.worker > 0 and cfg.storage.name == "sqlite":
        raise ValueError(f"worker={cfg.worker}: storage=sqlite is for one worker process; share a study between "
                         "workers with storage=journal (one machine) or storage=postgres (several)")
    check_storage(cfg.storage)


def check_study_name(name: object) -> None:
    """The study's folder is runs/<study_name>: one safe path component, never a way out of runs/."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
        raise ValueError(f"study_name={name!r}: the study's folder is runs/<study_name>; use letters, digits, '.', "
                         "'_' and '-' (no '/' or '..'), e.g. study_name=dense_c10")


def check_feasible(space, cfg: DictConfig, data: PreparedData) -> None:
    """Refuse constraints that even the space's smallest genotype breaks."""
    for key, metric in (("max_params", "params"), ("max_macs", "macs")):
        limit = cfg[key]
        if limit is None:
            continue
        genotype, value = search_spaces.smallest(space, cfg.search_space, metric, data.num_classes,
                                                 data.in_channels, data.image_size)
        if value > limit:
            raise ValueError(f"{key}={limit:,}: no genotype in search_space={cfg.search_space.name} satisfies it — "
                             f"the smallest found, {genotype.name}, has {value:,} {metric}; raise {key} or "
                             "widen the space's lower bounds")
