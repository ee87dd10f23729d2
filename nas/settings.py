"""Hydra's config, parsed once at the commands into typed, checked settings.

The only library module that reads the raw config (besides the command-line layer in
:mod:`nas.cli`): everything below the commands takes the dataclasses made here, and a bad
setting is refused in one line before any work. A group with a class of its own is parsed
into it by :func:`group`, which refuses a key the class does not have.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, TypeVar

from omegaconf import DictConfig, OmegaConf

import search_spaces
from nas.analysis.brief_training import ProxyCheckSettings
from nas.checks import fraction, number, require, whole
from nas.evaluators import evaluator_class
from nas.files import check_study_name
from nas.outputs.wandb import check as check_logger
from nas.pareto.objectives import check_objectives
from nas.runtime import cores
from nas.scheduling import make_scheduler
from nas.section import Section
from nas.study.samplers import make_sampler
from nas.study.search_settings import LoggerSettings, SearchSettings
from nas.study.storage import StorageSettings, check_storage
from nas.training.config import TrainConfig
from nas.training.data import DataConfig, DataError
from nas.training.zero_cost import PROXIES
from nas.workers.rungs import check_cycles
from nas.workers.rungs import check_objectives as check_rung_objectives
from nas.workers.screen import screen_config

T = TypeVar("T")


def plain(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """A config (group) as plain values, interpolations resolved; a value left to the user stays "???"."""
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    return dict(cfg)


def group(cls: type[T], name: str, values: Mapping[str, Any]) -> T:
    """The dataclass ``cls`` of the config group ``name``; a key it does not have is refused in one line."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{name}.{unknown[0]} is not a setting; {name} has {', '.join(sorted(known))}")
    return cls(**values)


def data_config(cfg: DictConfig | Mapping[str, Any]) -> DataConfig:
    values = plain(cfg)
    if values.get("root") == "???":
        raise DataError(f"data.root is not set; data={values.get('name')} needs data.root=<folder with train/<class>/...>")
    return group(DataConfig, "data", values)


def train_config(cfg: DictConfig | Mapping[str, Any], **changes: Any) -> TrainConfig:
    values = {**plain(cfg), **changes}
    old = values.pop("schedule", None)  # train.schedule, the old name of train.protocol
    if old is not None:
        values["protocol"] = old
    return group(TrainConfig, "train", values)


def parse_search(cfg: DictConfig) -> SearchSettings:
    """``cfg`` (the composed ``conf/search.yaml``) as checked settings; ValueError names a bad one."""
    values = plain(cfg)
    check_settings(values)
    logger = group(LoggerSettings, "logger", values["logger"])
    check_logger(logger)
    objectives = check_objectives(values["objectives"])
    space = Section.of(values["search_space"])
    search_spaces.get(space.name).validate(space)
    evaluator = values.get("evaluator") or {"name": "train"}
    tcfg = train_config(values["train"])
    scheduler = make_scheduler(values["scheduler"], tcfg.epochs)
    check_rung_objectives(scheduler, objectives)
    check_cycles(scheduler, tcfg.cycle_ends)
    settings = SearchSettings(
        study_name=values["study_name"], n_trials=values["n_trials"], seed=values["seed"], worker=values["worker"],
        objectives=tuple(objectives), search_space=space, sampler=values["sampler"]["name"], scheduler=scheduler,
        train=tcfg, data=data_config(values["data"]), storage=group(StorageSettings, "storage", values["storage"]),
        logger=logger, evaluator=group(evaluator_class(evaluator.get("name")).Settings, "evaluator", evaluator),
        device=values["device"], gpu=values["gpu"], gpu_memory_share=values["gpu_memory_share"],
        cpu_threads=values["cpu_threads"], max_params=values["max_params"], max_macs=values["max_macs"],
        enqueue_baselines=values["enqueue_baselines"], prune_threshold=values["prune_threshold"],
        plot_every=values["plot_every"], timeout=values["timeout"],
        screen=screen_config(values.get("screen") or {"name": "none"}, objectives),
        proxies=proxy_names(values.get("proxies", [])),
        loggable={k: v for k, v in values.items() if k != "storage"})  # the storage URL may hold a password
    make_sampler(settings.sampler, settings.seed, settings.grid)  # a sampler the space cannot take: refused now
    return settings


def proxy_names(names: Any) -> tuple[str, ...]:
    if isinstance(names, str) or names is None:
        raise ValueError(f"proxies={names}: give a list, e.g. proxies=[nn_mass,synflow], or proxies=[] for none")
    bad = [n for n in names if n not in PROXIES]
    if bad:
        raise ValueError(f"proxies: unknown proxy {bad[0]!r}; choose among {', '.join(PROXIES)}")
    return tuple(dict.fromkeys(names))


def check_settings(cfg: Mapping[str, Any]) -> None:
    """Top-level settings with the wrong type or range, and a storage that cannot work."""
    check_study_name(cfg["study_name"])
    for key, check in (("n_trials", whole(1)), ("seed", whole(0)), ("worker", whole(0)),
                       ("cpu_threads", whole(1, optional=True, high=cores())),
                       ("max_params", whole(1, optional=True)), ("max_macs", whole(1, optional=True))):
        require(key, cfg[key], check, show=str, hint={"n_trials": " (the study's total number of trials)",
                                                      "cpu_threads": " (at most the cores this worker may use)"
                                                      }.get(key, ""))
    if not isinstance(cfg["enqueue_baselines"], bool):
        raise ValueError(f"enqueue_baselines={cfg['enqueue_baselines']!r}: give true or false")
    require("gpu_memory_share", cfg["gpu_memory_share"], lambda v: "" if v is None else fraction(v), show=str,
            hint=" (the share of its GPU's memory this worker may allocate), or null")
    threshold = cfg["prune_threshold"]
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not 0 < threshold <= 1):
        raise ValueError(f"prune_threshold={threshold}: connection strengths are normalised to [0, 1]; "
                         "choose 0 < prune_threshold ≤ 1, or null for no pruning")
    require("timeout", cfg["timeout"], number(lambda v: v > 0, "must be a number of seconds > 0, or null",
                                              optional=True), show=str, hint=" (how long this worker starts new trials)")
    every = cfg["plot_every"]
    if isinstance(every, bool) or not isinstance(every, (int, float)) or every < 0:
        raise ValueError(f"plot_every={every}: seconds between plot refreshes while the study runs "
                         "(≥ 0; 0 redraws after every trial that changes the front)")
    if cfg["worker"] > 0 and cfg["storage"]["name"] == "sqlite":
        raise ValueError(f"worker={cfg['worker']}: storage=sqlite is for one worker process; share a study between "
                         "workers with storage=journal (one machine) or storage=postgres (several)")
    check_storage(Section.of(cfg["storage"]))


def parse_proxy_check(cfg: DictConfig) -> ProxyCheckSettings:
    """``cfg`` (the composed ``conf/proxy_check.yaml``) as checked settings."""
    values = plain(cfg)
    n, factor = values["n_genotypes"], values["factor"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 3:
        raise ValueError(f"n_genotypes={n}: need at least 3 to rank")
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor <= 1:
        raise ValueError(f"factor={factor}: the long budget must be longer (factor > 1)")
    space = Section.of(values["search_space"])
    search_spaces.get(space.name).validate(space)
    # the brief run is one cycle, as a finished short run is; train.cycle_ends (rung_cycles) are the long runs'
    brief = train_config(values["train"], cycle_ends=[])
    long = dataclasses.replace(brief, epochs=max(brief.epochs + 1, round(brief.epochs * factor)),
                               cycle_ends=values["train"].get("cycle_ends"))
    return ProxyCheckSettings(n_genotypes=n, seed=values["seed"], device=values["device"],
                              max_params=values["max_params"], search_space=space, data=data_config(values["data"]),
                              brief=brief, long=long)
