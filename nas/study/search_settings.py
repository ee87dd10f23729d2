"""A search's settings, typed and checked: what ``python -m nas.search`` was asked to do.

``nas.settings.parse_search`` makes them from Hydra's config, once, at the command; nothing below
it reads the raw config. The groups with a class of their own (data, train, scheduler, storage,
logger, screen, the evaluator's) are parsed into it; the search space's settings are a read-only
:class:`~nas.section.Section`, read by the space's own module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import search_spaces
from nas.scheduling import Scheduler
from nas.section import Section
from nas.study.storage import StorageSettings
from nas.training.config import TrainConfig
from nas.training.data import DataConfig


@dataclass(frozen=True)
class Screen:
    """The ``screen=`` group: ``candidates`` drawn per trial, ranked on log-size and the proxies ``by``
    (the choice itself: :mod:`nas.workers.screen`)."""

    name: str = "none"
    candidates: int = 1
    by: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.name != "none"

    def setup(self) -> dict[str, Any]:
        """What a study records: a resume under another screen is refused (see ``open_study``)."""
        return {"name": self.name} if not self.active else \
            {"name": self.name, "candidates": self.candidates, "by": list(self.by)}

    @property
    def min_trained(self) -> int:
        """Completed trials the fit needs before the screen draws candidates (until then, the sampler's draw trains)."""
        return len(self.by) + 6


@dataclass(frozen=True)
class LoggerSettings:
    """The ``logger=`` group: none, or W&B runs (:mod:`nas.outputs.wandb`)."""

    name: str = "none"
    mode: str = "offline"  # offline | online
    project: str = "densenet-nas"
    entity: str | None = None


@dataclass(frozen=True)
class SearchSettings:
    """Everything ``python -m nas.search`` was asked to do, checked."""

    study_name: str
    n_trials: int
    seed: int
    worker: int
    objectives: tuple[str, ...]
    search_space: Section
    sampler: str
    scheduler: Scheduler
    train: TrainConfig
    data: DataConfig
    storage: StorageSettings
    logger: LoggerSettings
    evaluator: Any  # the evaluator's own settings (its class's Settings, nas.evaluators)
    device: str = "auto"
    gpu: int | None = None
    gpu_memory_share: float | None = None
    cpu_threads: int | None = None
    max_params: int | None = None
    max_macs: int | None = None
    enqueue_baselines: bool = True
    prune_threshold: float | None = None
    plot_every: float = 60
    timeout: float | None = None  # seconds on the evaluator's clock in which this worker starts trials
    screen: Screen = Screen()
    proxies: tuple[str, ...] = ()  # zero-cost proxies recorded for every trial
    loggable: dict[str, Any] = field(default_factory=dict, compare=False)  # the W&B study run's config

    @property
    def space(self) -> ModuleType:
        return search_spaces.get(self.search_space.name)

    @property
    def scored(self) -> tuple[str, ...]:
        """The proxies every trial is scored by: those recorded and those the screen ranks by."""
        return tuple(dict.fromkeys([*self.proxies, *self.screen.by]))

    @property
    def grid(self) -> dict[str, list] | None:
        """Every parameter's choices, where the space can be enumerated (``sampler=grid``)."""
        return self.space.grid(self.search_space) if hasattr(self.space, "grid") else None
