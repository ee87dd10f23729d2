"""The ``sampler=`` group: which Optuna sampler proposes architectures, seeded per worker."""

from __future__ import annotations

import warnings

import numpy as np
import optuna

SAMPLERS = ("tpe", "nsga2", "random", "gp", "grid")


class _Grid(optuna.samplers.GridSampler):
    """Optuna's grid sampler, without the ``Study.stop()`` it calls once the grid is drawn:
    this ask-and-tell loop has no optimize() to stop (Optuna raises), and stops at n_trials."""

    def after_trial(self, study, trial, state, values) -> None:
        pass


def make_sampler(name: str, seed: int, grid: dict[str, list] | None = None) -> optuna.samplers.BaseSampler:
    """``grid``: every parameter's choices, for ``sampler=grid`` (an enumerable space's ``grid``)."""
    if name == "tpe":
        # multivariate + group: TPE models the conditional parameters (m, bottleneck kinds) jointly
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "grid":
        if grid is None:
            raise ValueError("sampler=grid: this search space cannot be enumerated; use search_space=dense_grid "
                             "or another sampler")
        return _Grid(grid, seed=seed)  # the unvisited points in a seeded random order
    raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")


def worker_seed(seed: int, worker: int, existing: int = 0) -> int:
    """A distinct sampler seed per worker and per resumption (``existing`` trials in the study):
    the same seed again would redraw the random start-up samples the study already has. A
    fresh study's worker 0 keeps ``seed``, so single-worker runs reproduce."""
    if worker == 0 and existing == 0:
        return seed
    return int(np.random.SeedSequence([seed, worker, existing]).generate_state(1)[0] >> 1)
