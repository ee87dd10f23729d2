"""The ``sampler=`` group: which Optuna sampler proposes architectures, seeded per worker."""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import optuna

from nas.checks import registered

Grid = dict[str, list] | None


class _Grid(optuna.samplers.GridSampler):
    """Optuna's grid sampler, without the ``Study.stop()`` it calls once the grid is drawn:
    this ask-and-tell loop has no optimize() to stop (Optuna raises), and stops at n_trials."""

    def after_trial(self, study, trial, state, values) -> None:
        pass


def _tpe(seed: int, grid: Grid) -> optuna.samplers.BaseSampler:
    # multivariate + group: TPE models the conditional parameters (m, bottleneck kinds) jointly
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)


def _grid(seed: int, grid: Grid) -> optuna.samplers.BaseSampler:
    if grid is None:
        raise ValueError("sampler=grid: this search space cannot be enumerated; use search_space=dense_grid "
                         "or another sampler")
    return _Grid(grid, seed=seed)  # the unvisited points in a seeded random order


# name → the sampler, made from the worker's seed and, for an enumerable space, every parameter's
# choices. Adding a sampler: its line here, its conf/sampler/<name>.yaml and its test.
SAMPLERS: dict[str, Callable[[int, Grid], optuna.samplers.BaseSampler]] = {
    "tpe": _tpe,
    "nsga2": lambda seed, grid: optuna.samplers.NSGAIISampler(seed=seed),
    "random": lambda seed, grid: optuna.samplers.RandomSampler(seed=seed),
    "gp": lambda seed, grid: optuna.samplers.GPSampler(seed=seed),
    "grid": _grid,
}


def make_sampler(name: str, seed: int, grid: Grid = None) -> optuna.samplers.BaseSampler:
    """``grid``: every parameter's choices, for ``sampler=grid`` (an enumerable space's ``grid``)."""
    return registered(SAMPLERS, name, "sampler", "sampler")(seed, grid)


def worker_seed(seed: int, worker: int, existing: int = 0) -> int:
    """A distinct sampler seed per worker and per resumption (``existing`` trials in the study):
    the same seed again would redraw the random start-up samples the study already has. A
    fresh study's worker 0 keeps ``seed``, so single-worker runs reproduce."""
    if worker == 0 and existing == 0:
        return seed
    return int(np.random.SeedSequence([seed, worker, existing]).generate_state(1)[0] >> 1)
