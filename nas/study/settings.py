"""A search's settings: the Hydra config parsed once, at the command, into typed and checked values.

:func:`parse_search` is the only place the search reads its raw config; everything below the
command takes a :class:`SearchSettings`. Bad settings are refused here with one line, before any
work. The groups with a class of their own (data, train, scheduler) are parsed into it; the
others (search space, storage, logger, evaluator) become read-only :class:`Section` mappings,
checked by the module that owns them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from omegaconf import DictConfig, OmegaConf

import search_spaces
from nas.checks import fraction, number, require, whole
from nas.pareto.objectives import check_objectives
from nas.runtime import cores
from nas.scheduling import Scheduler, make_scheduler
from nas.study.rungs import check_cycles
from nas.study.rungs import check_objectives as check_rung_objectives
from nas.study.samplers import make_sampler
from nas.study.screen import Screen, screen_config
from nas.study.storage import check_storage
from nas.study.wandb_logger import check as check_logger
from nas.training.config import TrainConfig
from nas.training.data import DataConfig
from nas.training.unit import data_config, train_config
from nas.training.zero_cost import NAMES as PROXIES


class Section(dict):
    """A config group as a read-only mapping whose keys are also attributes (``s.name``, ``s["name"]``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("settings are read-only")

    __setitem__ = __delitem__ = update = pop = setdefault = clear = _refuse  # type: ignore[assignment]

    @classmethod
    def of(cls, values: Any) -> Section:
        """From a plain dict, nested dicts included."""
        return cls({k: cls.of(v) if isinstance(v, dict) else v for k, v in values.items()})


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
    storage: Section
    logger: Section
    evaluator: Section
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


def parse_search(cfg: DictConfig) -> SearchSettings:
    """``cfg`` (the composed ``conf/search.yaml``) as checked settings; ValueError names a bad one."""
    check_settings(cfg)
    plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    check_logger(cfg.logger)
    objectives = check_objectives(cfg.objectives if isinstance(cfg.objectives, str) else list(cfg.objectives))
    space = Section.of(plain["search_space"])
    search_spaces.get(space.name).validate(space)
    evaluator = Section.of(plain.get("evaluator") or {"name": "train"})
    tcfg = train_config(cfg.train)
    scheduler = make_scheduler(cfg.scheduler, tcfg.epochs)
    check_rung_objectives(scheduler, objectives)
    check_cycles(scheduler, tcfg.cycle_ends)
    settings = SearchSettings(
        study_name=cfg.study_name, n_trials=cfg.n_trials, seed=cfg.seed, worker=cfg.worker,
        objectives=tuple(objectives), search_space=space, sampler=cfg.sampler.name, scheduler=scheduler, train=tcfg,
        data=data_config(cfg.data), storage=Section.of(plain["storage"]), logger=Section.of(plain["logger"]),
        evaluator=evaluator, device=cfg.device, gpu=cfg.gpu, gpu_memory_share=cfg.gpu_memory_share,
        cpu_threads=cfg.cpu_threads,
        max_params=cfg.max_params, max_macs=cfg.max_macs, enqueue_baselines=cfg.enqueue_baselines,
        prune_threshold=cfg.prune_threshold, plot_every=cfg.plot_every, timeout=cfg.timeout,
        screen=screen_config(plain.get("screen") or {"name": "none"}, objectives),
        proxies=proxy_names(plain.get("proxies", [])),
        loggable={k: v for k, v in plain.items() if k != "storage"})  # the storage URL may hold a password
    make_sampler(settings.sampler, settings.seed, settings.grid)  # a sampler the space cannot take: refused now
    return settings


def proxy_names(names: Any) -> tuple[str, ...]:
    if isinstance(names, str) or names is None:
        raise ValueError(f"proxies={names}: give a list, e.g. proxies=[nn_mass,synflow], or proxies=[] for none")
    bad = [n for n in names if n not in PROXIES]
    if bad:
        raise ValueError(f"proxies: unknown proxy {bad[0]!r}; choose among {', '.join(PROXIES)}")
    return tuple(dict.fromkeys(names))


def check_settings(cfg: DictConfig) -> None:
    """Top-level settings with the wrong type or range, and a storage that cannot work."""
    check_study_name(cfg.study_name)
    for key, check in (("n_trials", whole(1)), ("seed", whole(0)), ("worker", whole(0)),
                       ("cpu_threads", whole(1, optional=True, high=cores())),
                       ("max_params", whole(1, optional=True)), ("max_macs", whole(1, optional=True))):
        require(key, cfg[key], check, show=str, hint={"n_trials": " (the study's total number of trials)",
                                                      "cpu_threads": " (at most the cores this worker may use)"
                                                      }.get(key, ""))
    if not isinstance(cfg.enqueue_baselines, bool):
        raise ValueError(f"enqueue_baselines={cfg.enqueue_baselines!r}: give true or false")
    require("gpu_memory_share", cfg.gpu_memory_share, lambda v: "" if v is None else fraction(v), show=str,
            hint=" (the share of its GPU's memory this worker may allocate), or null")
    threshold = cfg.prune_threshold
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not 0 < threshold <= 1):
        raise ValueError(f"prune_threshold={threshold}: connection strengths are normalised to [0, 1]; "
                         "choose 0 < prune_threshold ≤ 1, or null for no pruning")
    require("timeout", cfg.timeout, number(lambda v: v > 0, "must be a number of seconds > 0, or null", optional=True),
            show=str, hint=" (how long this worker starts new trials)")
    every = cfg.plot_every
    if isinstance(every, bool) or not isinstance(every, (int, float)) or every < 0:
        raise ValueError(f"plot_every={every}: seconds between plot refreshes while the study runs "
                         "(≥ 0; 0 redraws after every trial that changes the front)")
    if cfg.worker > 0 and cfg.storage.name == "sqlite":
        raise ValueError(f"worker={cfg.worker}: storage=sqlite is for one worker process; share a study between "
                         "workers with storage=journal (one machine) or storage=postgres (several)")
    check_storage(Section.of(OmegaConf.to_container(cfg.storage, resolve=True, throw_on_missing=False)))


def check_study_name(name: object) -> None:
    """The study's folder is runs/<study_name>: one safe path component, never a way out of runs/."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
        raise ValueError(f"study_name={name!r}: the study's folder is runs/<study_name>; use letters, digits, '.', "
                         "'_' and '-' (no '/' or '..'), e.g. study_name=dense_c10")


def check_feasible(settings: SearchSettings, num_classes: int, in_channels: int,
                   image_size: tuple[int, int]) -> None:
    """Refuse constraints that even the space's smallest genotype breaks."""
    for key, metric in (("max_params", "params"), ("max_macs", "macs")):
        limit = getattr(settings, key)
        if limit is None:
            continue
        genotype, value = search_spaces.smallest(settings.space, settings.search_space, metric, num_classes,
                                                 in_channels, image_size)
        if value > limit:
            raise ValueError(f"{key}={limit:,}: no genotype in search_space={settings.search_space.name} satisfies it — "
                             f"the smallest found, {genotype.name}, has {value:,} {metric}; raise {key} or "
                             "widen the space's lower bounds")
