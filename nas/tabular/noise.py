"""Seed noise for replayed runs: how two training runs of one genotype differ, learnt from a table's repeats.

A real study sees one noisy run per trial, and its rungs read that run's noisy epochs. A replay
that always returned a genotype's first run would show every simulated study one fixed draw of
that noise. :class:`SeedNoise` is fitted on the genotypes the table trained twice: the
difference between their two runs' curves (validation accuracy and loss, training loss, per
epoch) and between the logarithms of their epoch seconds. One run's deviation from its
genotype's mean has half that covariance (the two runs' deviations are independent and alike),
so a drawn deviation keeps the run's epochs correlated, as a run that starts well tends to end well.

A trial then gets, by :func:`draw`, what a real one would: one of the genotype's recorded runs,
chosen by the trial's seed, where the table has several (each a real draw of the noise about the
genotype's true mean, though they lie closer to their own mean, the reference, than a new draw
would); else its one run with a deviation drawn from the model. The reference a replay is measured against is the noise model's mean
(:meth:`nas.tabular.table_file.Table.expected`): the mean of a genotype's runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

CURVES = (0, 1, 2)  # val_accuracy, val_loss, train_loss in nas.tabular.table_file.EPOCH_FIELDS
SECONDS = (3, 4)  # seconds, judge_seconds: scaled together by one factor per epoch


@dataclass(frozen=True)
class SeedNoise:
    """One run's deviation from its genotype's mean, as a zero-mean normal over the whole run."""

    epochs: int
    curve_cov: np.ndarray  # (3·epochs)²: the curves, metric after metric, epoch after epoch
    seconds_cov: np.ndarray  # epochs²: log epoch seconds
    pairs: int  # genotypes trained twice that it was fitted on

    def __post_init__(self) -> None:  # the square roots a draw multiplies, taken once per model
        object.__setattr__(self, "_curve_root", _root(self.curve_cov))
        object.__setattr__(self, "_seconds_root", _root(self.seconds_cov))

    @classmethod
    def of(cls, table) -> SeedNoise:
        """Fitted on ``table``'s genotypes trained twice (:meth:`nas.tabular.table_file.Table.pairs`)."""
        return cls.fit([(a.epochs, b.epochs) for a, b in table.pairs()])

    @classmethod
    def fit(cls, pairs: list[tuple[tuple[tuple[float, ...], ...], tuple[tuple[float, ...], ...]]]) -> SeedNoise:
        """From pairs of complete runs' epochs (two seeds of one genotype each). Which run of a pair is
        first is arbitrary, so the differences are taken as centred on zero."""
        if len(pairs) < 3:
            raise ValueError(f"seed noise needs at least 3 genotypes trained twice, the table has {len(pairs)}")
        epochs = len(pairs[0][0])
        curves = np.array([_curves(b) - _curves(a) for a, b in pairs])
        seconds = np.array([_log_seconds(b) - _log_seconds(a) for a, b in pairs])
        return cls(epochs, curves.T @ curves / (2 * len(pairs)), seconds.T @ seconds / (2 * len(pairs)), len(pairs))

    def deviation(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One run's deviations: curves (3 × epochs) and log seconds (epochs), the values numpy's
        ``multivariate_normal(method="eigh")`` draws, without its decomposition per trial."""
        curves = rng.standard_normal(len(self.curve_cov)) @ self._curve_root.T
        seconds = rng.standard_normal(self.epochs) @ self._seconds_root.T
        return curves.reshape(len(CURVES), self.epochs), seconds

    def apply(self, epochs: tuple[tuple[float, ...], ...], rng: np.random.Generator) -> tuple[tuple[float, ...], ...]:
        """``epochs`` moved by one drawn deviation (accuracy kept in [0, 1], losses above 0)."""
        curves, seconds = self.deviation(rng)
        out = []
        for e, row in enumerate(epochs):
            row = list(row)
            for i, field in enumerate(CURVES):
                row[field] += float(curves[i, e])
            row[CURVES[0]] = min(1.0, max(0.0, row[CURVES[0]]))
            for field in CURVES[1:]:
                row[field] = max(1e-6, row[field])
            for field in SECONDS:
                row[field] *= float(np.exp(seconds[e]))
            out.append(tuple(row))
        return tuple(out)

    def final_sd(self) -> float:
        """One run's SD of final validation accuracy."""
        return float(np.sqrt(self.curve_cov[self.epochs - 1, self.epochs - 1]))

    def last_epochs_correlation(self) -> float:
        """How closely a run's deviation at its last epoch follows the one before it."""
        e = self.epochs - 1
        return float(self.curve_cov[e - 1, e] / np.sqrt(self.curve_cov[e - 1, e - 1] * self.curve_cov[e, e]))


def _root(cov: np.ndarray) -> np.ndarray:
    """A square root of a covariance, as numpy's ``multivariate_normal(method="eigh")`` takes it."""
    values, vectors = np.linalg.eigh(cov)
    return vectors * np.sqrt(np.abs(values))


def _curves(epochs: tuple[tuple[float, ...], ...]) -> np.ndarray:
    return np.array([[e[f] for e in epochs] for f in CURVES]).ravel()


def _log_seconds(epochs: tuple[tuple[float, ...], ...]) -> np.ndarray:
    return np.log(np.maximum([e[SECONDS[0]] for e in epochs], 1e-9))


def rng_for(seed: int, genotype_id: str) -> np.random.Generator:
    """The generator of one trial's draw: its seed and genotype, nothing else (no shared stream, so a
    trial's draw does not depend on which trials ran before it)."""
    return np.random.default_rng([seed, int(genotype_id, 16)])  # a genotype id is a hex digest


def draw(runs: list, noise: SeedNoise | None, seed: int, genotype_id: str):
    """The run a trial with ``seed`` gets: one of several recorded runs, chosen by the seed; the one
    run with a drawn deviation (complete runs only: a run stopped early replays as recorded); or,
    with no noise model, the first run."""
    if noise is None:
        return runs[0]
    rng = rng_for(seed, genotype_id)
    if len(runs) > 1:
        return runs[int(rng.integers(len(runs)))]
    run = runs[0]
    if not run.complete or len(run.epochs) != noise.epochs:
        return run
    return dataclasses.replace(run, epochs=noise.apply(run.epochs, rng))
