"""A table of search_space=dense_grid with made-up learning curves, for the simulator's tests (the
simulator's logic does not depend on how the numbers were made; the shipped table is real)."""

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import optuna
from omegaconf import OmegaConf

import nas
import search_spaces
from nas.models.size import size
from nas.section import Section
from nas.tabular.table_file import Run, Table
from nas.training.config import TrainConfig

SPACE = Path(nas.__file__).parent / "conf" / "search_space" / "dense_grid.yaml"


def _setup(epochs: int) -> dict:
    """The study setup of the table's fidelity (16×16, 8,000 / 2,000 images) at ``epochs``."""
    train = {k: v for k, v in dataclasses.asdict(TrainConfig(epochs=epochs, batch_size=128, lr=0.2)).items()
             if k not in ("progress", "compile", "memory_efficient", "memory_fraction", "memory_limit_gb")}
    return {"data": "folder", "train_size": 8000, "val_size": 2000, "classes": 10, "in_channels": 3,
            "image_size": [16, 16], "split_seed": 0, "train": train}


def synthetic_table(path: Path, epochs: int = 6, seed: int = 0, replicas: int = 24, proxies: bool = False) -> Table:
    """``proxies``: each genotype also gets an ``nn_mass`` score (its first run's final accuracy plus noise)
    that takes half a second, and a ``synflow`` score that is null."""
    space = OmegaConf.to_container(OmegaConf.load(SPACE), resolve=True)
    module, cfg = search_spaces.get("dense_grid"), Section.of(space)
    rng = np.random.default_rng(seed)
    setup = _setup(epochs)
    grid = module.grid(cfg)
    runs = []
    for number, combo in enumerate(itertools.product(*grid.values())):
        params = dict(zip(grid, combo))
        genotype = search_spaces.genotype_from_params(module, cfg, params)
        size = 5000 * params["growth"] * params["layers"] * (1.5 if params["bottleneck"] else 1)
        for replica in range(2 if number < replicas else 1):
            final = 0.3 + 0.05 * np.log10(size) + rng.normal(0, 0.03)
            curve = [final * (1 - np.exp(-(e + 1) / 2)) + rng.normal(0, 0.01) for e in range(epochs)]
            seconds = (size / 2e4 + 5) * np.random.default_rng([seed, number, replica]).lognormal(0, 0.05)
            runs.append(Run(genotype.id, genotype.name, params, replica, number, "ok", "", int(size), int(size * 90),
                            float(size / 1e5), 1.0,
                            tuple((float(a), 2.0 - float(a), 2.1 - float(a), seconds, 1.0) for a in curve)))
    scores = {}
    if proxies:
        for r in runs:
            if r.replica == 0:
                scores[r.genotype_id] = {
                    "nn_mass": {"value": r.epochs[-1][0] + float(rng.normal(0, 0.01)), "seconds": 0.5, "reason": ""},
                    "synflow": {"value": None, "seconds": 0.25, "reason": "made up: not applicable"}}
    table = Table(space, setup, {"command": "tests/tables.py", "threads": 1}, tuple(runs), scores)
    table.save(path)
    return table


def connectivity_table(path: Path, genotypes: int = 40, epochs: int = 3, seed: int = 0, replicas: int = 8) -> Table:
    """Random genotypes of ``search_space=dense_connectivity`` (its shipped settings) with made-up curves that
    rise with their counted size, the first ``replicas`` trained twice: what a surrogate is fitted on."""
    space = OmegaConf.to_container(OmegaConf.load(SPACE.parent / "dense_connectivity.yaml"), resolve=True)
    module, cfg = search_spaces.get("dense_connectivity"), Section.of(space)
    rng = np.random.default_rng(seed)
    setup = _setup(epochs)
    runs, seen = [], set()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    while len(seen) < genotypes:
        trial = study.ask()
        genotype = module.suggest(trial, cfg)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        if genotype.id in seen:
            continue
        seen.add(genotype.id)
        n_params, macs = size(genotype, num_classes=10, in_channels=3, image_size=(16, 16))
        for replica in range(2 if len(seen) <= replicas else 1):
            final = 0.2 + 0.05 * np.log10(n_params) + rng.normal(0, 0.01)
            curve = [final * (1 - np.exp(-(e + 1))) + rng.normal(0, 0.005) for e in range(epochs)]
            seconds = macs / 5e6 * rng.lognormal(0, 0.05)
            runs.append(Run(genotype.id, genotype.name, dict(trial.params), replica, len(seen) - 1, "ok", "",
                            n_params, macs, None, 1.0,
                            tuple((float(a), 2.0 - float(a), 2.1 - float(a), seconds, 1.0) for a in curve)))
    table = Table(space, setup, {"command": "tests/tables.py", "threads": 1}, tuple(runs))
    table.save(path)
    return table
