"""A surrogate benchmark: gradient-boosted trees fitted on a table's runs, answering for any genotype of its space.

A table (:mod:`nas.tabular.table_file`) answers only for the genotypes it trained. A space of
billions cannot be tabulated, so, as NAS-Bench-301 does for the DARTS space, a model fitted on a
sample of trained genotypes stands in for training: per epoch the validation accuracy and loss,
the training loss and the seconds (training, then judging and validating), and per run the
seconds outside the epochs and the batch-1 latency. The genotype's parameters and multiply-adds
are counted, exactly, as a study counts them.

Each target is predicted by an ensemble of LightGBM models (bagged, each with its own seed); the
prediction is their mean, the genotype's expected run. What one training run of it gives about
that mean is the table's seed noise (:class:`nas.tabular.noise.SeedNoise`, fitted on the genotypes
trained twice), so a replay on the surrogate draws trials exactly as a replay on a table does.

The file is gzipped JSON: the space, the study setup the runs were trained under, how it was
built, the feature names and every model as LightGBM's own text.
"""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import json
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

import search_spaces
from nas.genotype import Genotype
from nas.models.size import size
from nas.section import Section
from nas.study.record import Status, current_setup
from nas.tabular import features
from nas.tabular.noise import SeedNoise
from nas.tabular.table_file import EPOCH_FIELDS, Run, Table

FORMAT = 1
SURROGATES = Path(__file__).parent / "surrogates"  # the surrogates shipped with the package, by name
EPOCH_TARGETS = EPOCH_FIELDS  # per epoch; the epoch (1-based) is the last feature
RUN_TARGETS = ("overhead", "latency_batch1_ms")  # per run
LOGGED = {"seconds", "judge_seconds", "overhead", "latency_batch1_ms"}  # fitted on their logarithms: positive, multiplicative
# Small data (hundreds of genotypes): shallow trees, few of them, bagging; one thread, so a fit is reproducible.
TREES = {"objective": "regression", "learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": 5,
         "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
         "deterministic": True, "force_col_wise": True, "num_threads": 1, "verbosity": -1}
ROUNDS = 150


@dataclass(frozen=True)
class Surrogate:
    space: dict[str, Any]  # the search space's settings it answers for
    setup: dict[str, Any]  # the study setup its runs were trained under (a table's)
    build: dict[str, Any]  # how it was made: the table's digest and size, the fit's settings
    models: dict[str, tuple[str, ...]]  # target → its ensemble, each model in LightGBM's text format
    noise: SeedNoise | None  # one run's deviation from the expected run; None without repeated runs

    @property
    def epochs(self) -> int:
        return int(self.setup["train"]["epochs"])

    @cached_property
    def _boosters(self) -> dict[str, list]:
        import lightgbm

        return {t: [lightgbm.Booster(model_str=m) for m in models] for t, models in self.models.items()}

    def genotype(self, params: dict[str, Any]) -> Genotype:
        """The genotype that trial parameters make in the surrogate's space."""
        return search_spaces.genotype_from_params(search_spaces.get(self.space["name"]), Section.of(self.space), params)

    def size(self, genotype: Genotype) -> tuple[int, int]:
        """``(parameters, multiply-adds)`` at the surrogate's data, as a study counts them; GenotypeError for
        a genotype its images are too small for."""
        setup = self.setup
        return size(genotype, num_classes=setup["classes"], in_channels=setup["in_channels"],
                    image_size=tuple(setup["image_size"]))

    def expected(self, genotype: Genotype) -> Run:
        """The genotype's expected run, at its counted size."""
        return self.run(genotype, *self.size(genotype))

    def predict(self, rows: np.ndarray, target: str) -> np.ndarray:
        """The ensemble's mean for feature ``rows`` (per-epoch targets: the epoch as the last column),
        in the target's own units."""
        mean = np.mean([b.predict(rows, num_threads=1) for b in self._boosters[target]], axis=0)  # rows are few
        return np.exp(mean) if target in LOGGED else mean

    def run(self, genotype: Genotype, n_params: int, macs: int) -> Run:
        """The expected run of ``genotype`` (counted at ``n_params`` parameters and ``macs`` multiply-adds)."""
        x = features.of(genotype, n_params, macs)
        rows = np.array([[*x, e] for e in range(1, self.epochs + 1)])
        curves = {t: self.predict(rows, t) for t in EPOCH_TARGETS}
        curves["val_accuracy"] = np.clip(curves["val_accuracy"], 0.0, 1.0)
        for t in ("val_loss", "train_loss"):
            curves[t] = np.maximum(curves[t], 1e-6)
        epochs = tuple(tuple(float(curves[t][e]) for t in EPOCH_TARGETS) for e in range(self.epochs))
        per_run = {t: float(self.predict(np.array([x]), t)[0]) if t in self.models else None for t in RUN_TARGETS}
        return Run(genotype.id, genotype.name, {}, 0, -1, Status.OK.value, "", n_params, macs,
                   per_run["latency_batch1_ms"], per_run["overhead"], epochs)

    def tabulate(self) -> Table:
        """Every genotype of an enumerable space with its expected run, as a table: what studies on the
        surrogate are measured against (the true front, the time to train every genotype once)."""
        module, cfg = search_spaces.get(self.space["name"]), Section.of(self.space)
        if not hasattr(module, "grid"):
            raise ValueError(f"search_space={self.space['name']} cannot be enumerated; only an enumerable space "
                             "(dense_grid) has a table of every genotype")
        grid, runs = module.grid(cfg), {}
        for number, combo in enumerate(itertools.product(*grid.values())):
            params = dict(zip(grid, combo))
            genotype = search_spaces.genotype_from_params(module, cfg, params)
            if genotype.id not in runs:
                runs[genotype.id] = dataclasses.replace(self.expected(genotype), params=params, trial=number)
        return Table(dict(self.space), dict(self.setup), {"surrogate": self.build}, tuple(runs.values()))

    # ---- the file -------------------------------------------------------------------

    def save(self, path: Path) -> None:
        doc = {"format": FORMAT, "kind": "surrogate", "space": self.space, "setup": self.setup, "build": self.build,
               "features": {"version": features.VERSION, "names": features.names(int(self.space["blocks"]))},
               "epoch_fields": list(EPOCH_FIELDS), "models": {t: list(m) for t, m in self.models.items()},
               "noise": None if self.noise is None else {"curve_cov": self.noise.curve_cov.tolist(),
                                                         "seconds_cov": self.noise.seconds_cov.tolist(),
                                                         "pairs": self.noise.pairs}}
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt") as f:  # the trees' text compresses about tenfold
            json.dump(doc, f, separators=(",", ":"))

    @classmethod
    def load(cls, spec: str | Path) -> Surrogate:
        """A shipped surrogate by name (``dense_connectivity``) or a surrogate file; ValueError (one line)
        for a file this version cannot read."""
        from lightgbm.basic import LightGBMError

        shipped = SURROGATES / f"{spec}.json.gz"
        path = shipped if shipped.exists() else Path(spec)
        if not path.is_file():
            names = ", ".join(sorted(p.name.removesuffix(".json.gz") for p in SURROGATES.glob("*.json.gz"))) or "none"
            raise ValueError(f"evaluator.surrogate={spec}: no such surrogate; use a shipped one ({names}) or the path "
                             "of a surrogate file (python -m nas.table fit makes one)")
        try:
            with gzip.open(path, "rt") as f:
                doc = json.load(f)
            if doc.get("format") != FORMAT or doc.get("kind") != "surrogate" or doc.get("epoch_fields") != list(EPOCH_FIELDS):
                raise ValueError(f"format {doc.get('format')!r} of kind {doc.get('kind')!r}, this version reads "
                                 f"surrogate format {FORMAT}")
            expected = features.names(int(doc["space"]["blocks"]))
            if doc["features"] != {"version": features.VERSION, "names": expected}:
                raise ValueError(f"features version {doc['features'].get('version')!r}, this version computes "
                                 f"version {features.VERSION}")
            missing = [t for t in (*EPOCH_TARGETS, "overhead") if t not in doc["models"]]
            if missing:
                raise ValueError(f"no model of {missing[0]}")
            noise = None if doc["noise"] is None else SeedNoise(
                int(doc["setup"]["train"]["epochs"]), np.array(doc["noise"]["curve_cov"]),
                np.array(doc["noise"]["seconds_cov"]), int(doc["noise"]["pairs"]))
            surrogate = cls(doc["space"], current_setup(doc["setup"]), doc["build"],
                            {t: tuple(m) for t, m in doc["models"].items()}, noise)
            surrogate._boosters  # parsed here: a corrupt model is refused now, not in every trial
            return surrogate
        except (ValueError, KeyError, TypeError, AttributeError, OSError, EOFError, zlib.error, LightGBMError) as e:
            raise ValueError(f"{path}: not a surrogate this version reads ({e}); fit it again with "
                             "python -m nas.table fit") from None


def training_rows(space_settings: dict[str, Any], runs: list[Run]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Features and targets of trained ``runs`` of the space ``space_settings`` describes: per target,
    ``(rows, values)``; a per-epoch target's rows end with the epoch. A run stopped early (by a rung or the
    chance guard) gives its epochs as far as it trained: what it did train is real data. A value that is
    not finite (a diverged run's loss) is left out of its target: one would ruin every tree."""
    space, cfg = search_spaces.get(space_settings["name"]), Section.of(space_settings)
    per_epoch: list[list[float]] = []
    per_run: list[list[float]] = []
    epoch_values: dict[str, list[float]] = {t: [] for t in EPOCH_TARGETS}
    run_values: dict[str, list[float | None]] = {t: [] for t in RUN_TARGETS}
    for run in runs:
        if not run.epochs:
            continue
        x = features.of(search_spaces.genotype_from_params(space, cfg, run.params), run.n_params, run.macs)
        for e, row in enumerate(run.epochs, start=1):
            per_epoch.append([*x, e])
            for t, v in zip(EPOCH_TARGETS, row):
                epoch_values[t].append(v)
        per_run.append(x)
        run_values["overhead"].append(run.overhead)
        run_values["latency_batch1_ms"].append(run.latency_batch1_ms)
    out = {t: (np.array(per_epoch), np.array(v, dtype=float)) for t, v in epoch_values.items()}
    for t, v in run_values.items():
        if v and all(x is not None for x in v):
            out[t] = (np.array(per_run), np.array(v, dtype=float))
    return {t: (rows[np.isfinite(values)], values[np.isfinite(values)]) for t, (rows, values) in out.items()}


def whole_space(table: Table) -> bool:
    """Whether the table holds every genotype of its (enumerable) space: then no study on it can leave its bounds."""
    ids = search_spaces.genotype_ids(search_spaces.get(table.space["name"]), Section.of(table.space))
    return ids is not None and ids <= set(table.genotypes)


def fit(table: Table, *, genotype_ids: list[str] | None = None, ensemble: int = 5, seed: int = 0,
        command: str = "", max_params: int | None = None, max_macs: int | None = None) -> Surrogate:
    """The surrogate of ``table``'s runs (of ``genotype_ids`` only, when given): ``ensemble`` models per target.
    ``max_params`` and ``max_macs`` are the size caps its data was drawn under (default: the largest in the
    table, the whole of it: a share fitted on still answers for the space the table was drawn from); a study
    on it must keep within them, where it does not extrapolate."""
    import lightgbm

    if ensemble < 1:
        raise ValueError(f"ensemble={ensemble}: fit at least one model per target")
    keep = None if genotype_ids is None else set(genotype_ids)
    used = [r for r in table.runs if keep is None or r.genotype_id in keep]
    data = training_rows(table.space, used)
    n = len({r.genotype_id for r in used})
    if n < 10:
        raise ValueError(f"{n} genotypes to fit on; a surrogate needs at least 10")
    models = {}
    for target, (rows, values) in data.items():
        y = np.log(np.maximum(values, 1e-9)) if target in LOGGED else values
        models[target] = tuple(
            lightgbm.train({**TREES, "seed": seed * 1000 + k}, lightgbm.Dataset(rows, y), num_boost_round=ROUNDS)
            .model_to_string() for k in range(ensemble))
    pairs = [(a.epochs, b.epochs) for a, b in table.pairs() if keep is None or a.genotype_id in keep]
    build = {"command": command, "table_digest": table.digest(), "genotypes": n,
             "runs": len(used), "ensemble": ensemble,
             "bounds": {"params": max_params or max(r.n_params for r in table.runs),
                        "macs": max_macs or max(r.macs for r in table.runs), "whole_space": whole_space(table)},
             "seed": seed, "trees": {**TREES, "rounds": ROUNDS}, "table_build": table.build}
    return Surrogate(dict(table.space), dict(table.setup), build, models,
                     SeedNoise.fit(pairs) if len(pairs) >= 3 else None)
