"""The tabular benchmark's file: every genotype of an enumerable space, trained once (some twice).

A table holds, per training run, what a study would have recorded: the genotype and the
trial parameters that make it, its size, latency and status, and per epoch the validation
accuracy and loss and the seconds spent (training, then judging and validating). With the
search space's settings and the study setup it was trained under (data, split, budget,
protocol), that is all a replayed study (:mod:`nas.evaluators.replay`) needs.

One JSON file, compact enough to ship in the package (:data:`TABLES`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from nas.pareto.dominance import on_front
from nas.pareto.objectives import losses
from nas.study.record import Status, current_setup

FORMAT = 1
TABLES = Path(__file__).parent / "tables"  # the tables shipped with the package, by name
EPOCH_FIELDS = ("val_accuracy", "val_loss", "train_loss", "seconds", "judge_seconds")


@dataclass(frozen=True)
class Run:
    """One training run of one genotype."""

    genotype_id: str
    name: str
    params: dict[str, Any]  # the trial parameters that make the genotype in the table's space
    replica: int  # how many runs of the genotype came before it in the build (0: its first; 1: its second seed)
    trial: int  # its trial number in that study (the training seed is the study's seed + this)
    status: str  # a trained Status: ok, chance, diverged or oom (stopped: a rung's, kept by build --stopped)
    reason: str
    n_params: int
    macs: int
    latency_batch1_ms: float | None
    overhead: float  # seconds of the trial outside its epochs (building, measuring, keeping weights)
    epochs: tuple[tuple[float, ...], ...]  # per epoch, EPOCH_FIELDS

    def epoch(self, e: int) -> dict[str, float]:
        """Epoch ``e`` (1-based) as a history entry."""
        return dict(zip(EPOCH_FIELDS, self.epochs[e - 1]))

    @property
    def complete(self) -> bool:
        return self.status == Status.OK.value

    @property
    def final(self) -> dict[str, float]:
        """The full-budget values of a complete run: its objectives as a study records them."""
        last = self.epoch(len(self.epochs))
        out = {"val_accuracy": last["val_accuracy"], "val_loss": last["val_loss"], "params": self.n_params,
               "macs": self.macs}
        if self.latency_batch1_ms is not None:
            out["latency_batch1_ms"] = self.latency_batch1_ms
        return out


@dataclass(frozen=True)
class Table:
    space: dict[str, Any]  # the search space's settings (conf/search_space/<name>.yaml)
    setup: dict[str, Any]  # the study setup it was trained under (nas.evaluators.training.Training.setup)
    build: dict[str, Any]  # how it was built: command, machine, threads, seconds
    runs: tuple[Run, ...]
    # genotype id → zero-cost proxy → {"value", "seconds", "reason"}, scored once per genotype at the
    # table's fidelity (python -m nas.table proxies); empty when the table has none
    proxies: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    proxies_build: dict[str, Any] = field(default_factory=dict)  # how they were scored

    def __post_init__(self) -> None:
        by_id: dict[str, list[Run]] = {}
        for run in sorted(self.runs, key=lambda r: r.replica):
            by_id.setdefault(run.genotype_id, []).append(run)
        object.__setattr__(self, "_by_id", by_id)

    @property
    def epochs(self) -> int:
        return int(self.setup["train"]["epochs"])

    @property
    def genotypes(self) -> list[str]:
        return list(self._by_id)

    def runs_of(self, genotype_id: str) -> list[Run]:
        """The genotype's runs, the first seed first; empty when the table lacks it."""
        return self._by_id.get(genotype_id, [])

    def first(self) -> list[Run]:
        """One run per genotype: the first replica's."""
        return [runs[0] for runs in self._by_id.values()]

    def expected(self) -> list[Run]:
        """One run per genotype, its epochs the mean over its complete runs: what a trial of it gives on
        average, the seed noise's mean (:mod:`nas.tabular.noise`). A genotype with no complete run keeps
        its first."""
        out = []
        for runs in self._by_id.values():
            done = [r for r in runs if r.complete and len(r.epochs) == self.epochs]
            if len(done) < 2:
                out.append(done[0] if done else runs[0])
                continue
            mean = np.mean([r.epochs for r in done], axis=0)
            out.append(replace(done[0], replica=-1, epochs=tuple(tuple(map(float, e)) for e in mean),
                               latency_batch1_ms=_mean([r.latency_batch1_ms for r in done]),
                               overhead=float(np.mean([r.overhead for r in done]))))
        return out

    def pairs(self) -> list[tuple[Run, Run]]:
        """The first two complete runs of every genotype trained more than once."""
        out = []
        for runs in self._by_id.values():
            done = [r for r in runs if r.complete]
            if len(done) > 1 and len(done[0].epochs) == len(done[1].epochs):
                out.append((done[0], done[1]))
        return out

    def digest(self) -> str:
        """12 hex digits that name its runs: what a result computed from the table depends on."""
        runs = json.dumps([[r.genotype_id, r.replica, r.epochs] for r in self.runs])
        return hashlib.sha256(runs.encode()).hexdigest()[:12]

    def front(self, objectives: list[str]) -> list[Run]:
        """The true Pareto front of the space on ``objectives``: of the expected runs (:meth:`expected`)."""
        runs = [r for r in self.expected() if r.complete]
        mask = on_front(np.array([losses([r.final[o] for o in objectives], objectives) for r in runs]))
        return [r for r, keep in zip(runs, mask) if keep]

    # ---- the file -------------------------------------------------------------------

    def save(self, path: Path) -> None:
        doc = {"format": FORMAT, "space": self.space, "setup": self.setup, "build": self.build,
               "epoch_fields": list(EPOCH_FIELDS),
               "runs": [{**asdict(r), "epochs": [[_round(v) for v in e] for e in r.epochs]} for r in self.runs]}
        if self.proxies:
            doc["proxies"] = {g: {n: {**p, "value": _round(p["value"]), "seconds": _round(p["seconds"])}
                                  for n, p in scores.items()} for g, scores in self.proxies.items()}
            doc["proxies_build"] = self.proxies_build
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")

    @classmethod
    def load(cls, spec: str | Path) -> Table:
        """A shipped table by name (``dense_grid``) or a table file."""
        path = path_of(spec)
        if not path.is_file():
            shipped = ", ".join(sorted(p.stem for p in TABLES.glob("*.json"))) or "none"
            raise ValueError(f"evaluator.table={spec}: no such table; use a shipped one ({shipped}) or the path of "
                             "a table file (bash benchmarks/table/build.sh makes one)")
        try:
            doc = json.loads(path.read_text())
            if doc.get("format") != FORMAT or doc.get("epoch_fields") != list(EPOCH_FIELDS):
                raise ValueError(f"format {doc.get('format')!r}, this version reads format {FORMAT}")
            runs = tuple(Run(**{**r, "epochs": tuple(map(tuple, r["epochs"]))}) for r in doc["runs"])
            return cls(doc["space"], current_setup(doc["setup"]), doc["build"], runs, doc.get("proxies", {}), doc.get("proxies_build", {}))
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a table this version reads ({e}); rebuild it with "
                             "bash benchmarks/table/build.sh") from None


def path_of(spec: str | Path) -> Path:
    """A shipped table's file by name (``dense_grid``), or ``spec`` as a path."""
    shipped = TABLES / f"{spec}.json"
    return shipped if shipped.exists() else Path(spec)


def _mean(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else float(np.mean(values))


def _round(v: float | None) -> float | None:
    return None if v is None else float(f"{v:.5g}")
