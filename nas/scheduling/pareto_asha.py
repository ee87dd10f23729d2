"""Rung decisions made from a study's storage: multi-objective ASHA and Hyperband across workers,
for ``nas.search`` and for any plain Optuna study.

At each rung of its bracket (:class:`~nas.scheduling.schedulers.Scheduler`) a trial compares its
objective values with the rung results the study holds — every worker's, finished or still
running, one per key (a genotype, or a parameter set), in the order they were recorded — decides
whether it trains on (:func:`~nas.scheduling.decisions.decide`) and records that decision in the
trial before going on. Every input of a decision is stored beside it (the values, the trials it
saw), so any decision can be checked afterwards; and a key's decision is never made twice: a retry
of a trial whose worker died takes over the decision recorded for its key.

Optuna's ``Trial.report`` raises in multi-objective studies, so no Optuna pruner can stop one
(optuna/optuna#3450). :class:`ParetoASHA` is that pruner for a plain objective function: no
genotype, trainer or Hydra involved. ``nas.search`` makes the same decisions through
:class:`nas.workers.rungs.RungJudge`, which keeps them in its trial record.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from nas.scheduling.decisions import decide
from nas.scheduling.schedulers import Scheduler

# A trial → (its key, the rung results it recorded): where a study keeps them.
RungsOf = Callable[[FrozenTrial], tuple[str, Sequence[dict[str, Any]]]]
DECISION = ("go", "position", "of", "kept")


def population(trials: Sequence[FrozenTrial], bracket: int, epoch: int, key: str, rungs_of: RungsOf
               ) -> tuple[list[tuple[int, dict[str, Any]]], tuple[int, dict[str, Any]] | None]:
    """``(earlier, inherited)``: the rung results recorded at (``bracket``, ``epoch``), one per key in
    the order recorded, as (trial, rung) — and, when ``key`` already has one there (an earlier
    attempt at this trial), that one."""
    found: dict[str, tuple[float, int, dict[str, Any]]] = {}
    for t in trials:
        owner, rungs = rungs_of(t)
        for rung in rungs:
            if rung["bracket"] != bracket or rung["epoch"] != epoch:
                continue
            order = (rung["at"], t.number)
            if owner not in found or order < found[owner][:2]:
                found[owner] = (*order, rung)
    mine = found.pop(key, None)
    earlier = [(n, rung) for _, n, rung in sorted(found.values(), key=lambda x: x[:2])]
    return earlier, None if mine is None else (mine[1], mine[2])


def rung_decision(trials: Sequence[FrozenTrial], key: str, bracket: int, epoch: int, values: Mapping[str, float],
                  signs: Mapping[str, float], eta: float, rungs_of: RungsOf, at: float) -> dict[str, Any]:
    """The rung result a trial records at ``epoch``: its ``values`` (by objective name; ``signs``: +1 to
    minimise, −1 to maximise), whether it goes on, its place among the ``trials``' results at the rung,
    the trials it saw, and ``at``, the stamp that orders a rung's arrivals."""
    earlier, inherited = population(trials, bracket, epoch, key, rungs_of)
    if inherited is not None:
        decision = {**{k: v for k, v in inherited[1].items() if k in DECISION}, "inherited_from": inherited[0]}
    else:
        def loss(named: Mapping[str, float]) -> np.ndarray:
            return np.array([signs[o] * named[o] for o in signs], float)

        d = decide(loss(values), [loss(r["values"]) for _, r in earlier], eta)
        decision = {"go": d.go, "position": d.position, "of": d.of, "kept": d.kept}
    return {"epoch": epoch, "bracket": bracket, "values": dict(values), **decision,
            "seen": [n for n, _ in earlier], "at": at}


def describe(rung: dict[str, Any], rungs: list[int]) -> str:
    """Why a trial stopped at ``rung``, in one line."""
    where = f"stopped after epoch {rung['epoch']} (rung {rungs.index(rung['epoch']) + 1} of {len(rungs)}"
    place = f"Pareto place {rung['position']} of {rung['of']} trials at this rung; the first {rung['kept']} go on"
    if "inherited_from" in rung:
        return f"{where}, as decided for this genotype in trial {rung['inherited_from']}: {place})"
    return f"{where}: {place})"


RUNGS = "pareto_asha_rungs"  # the user attribute a trial keeps its rung results in
SCHEDULER = "pareto_asha_scheduler"  # the study attribute that holds the scheduler every worker must share


def _own_rungs(t: FrozenTrial | optuna.Trial) -> list[dict[str, Any]]:
    """The rung results ``t`` recorded itself (Optuna's retry callback copies a failed trial's user
    attributes into its retry: those are the failed trial's, and stay its)."""
    return [r for r in t.user_attrs.get(RUNGS, []) if r.get("trial", t.number) == t.number]


def _params_key(t: FrozenTrial | optuna.Trial) -> str:
    return json.dumps(t.params, sort_keys=True, default=str)


class ParetoASHA:
    """Multi-objective ASHA (or Hyperband) for a plain Optuna study, across any number of workers.

    Call :meth:`report` after each epoch with the trial's objective values so far; when it returns
    False, stop the trial (``raise optuna.TrialPruned()``). Decisions read and write only the study's
    storage (each trial's rung results in its user attribute :data:`RUNGS`), so workers that share a
    storage share the rungs; every worker must use the same scheduler (checked). A rung's arrivals are
    ordered by each worker's clock: across machines, keep their clocks synchronised (NTP). A trial
    whose values are not finite (diverged) stops and ranks no other. A trial's key (by default its parameters) decides its Hyperband bracket,
    and a retried trial takes over the decisions of the attempt before it.

    Example (two objectives, rungs after epochs 1 and 3 of 9)::

        asha = ParetoASHA(ASHA(eta=3, min_epochs=1, max_epochs=9))

        def objective(trial):
            width = trial.suggest_int("width", 8, 64)
            for epoch in range(1, 10):
                accuracy = train_one_epoch(width)
                if not asha.report(trial, epoch, [accuracy, width]):
                    raise optuna.TrialPruned()
            return accuracy, width

        study = optuna.create_study(directions=["maximize", "minimize"], storage=...)
        study.optimize(objective, n_trials=50)
    """

    def __init__(self, scheduler: Scheduler, key: Callable[[FrozenTrial | optuna.Trial], str] = _params_key,
                 clock: Callable[[], float] = time.time) -> None:
        if not scheduler.active:
            raise ValueError("ParetoASHA needs a scheduler with rungs: ASHA(...) or Hyperband(...)")
        self.scheduler, self.key, self.clock = scheduler, key, clock

    def rungs(self, trial: optuna.Trial) -> list[int]:
        """The epochs at which ``trial`` is ranked (its bracket's rungs)."""
        return self.scheduler.rungs(self.scheduler.bracket_of(self.key(trial)))

    def report(self, trial: optuna.Trial, epoch: int, values: Sequence[float]) -> bool:
        """Record ``values`` (one per objective, in the study's order) after ``epoch``; False when the
        trial stops here. Off its rungs it always goes on."""
        study = trial.study
        if len(values) != len(study.directions):
            raise ValueError(f"{len(values)} values for a study of {len(study.directions)} objectives")
        if not all(math.isfinite(v) for v in values):  # a diverged trial: stopped, and never ranks others
            return False
        key = self.key(trial)
        bracket = self.scheduler.bracket_of(key)
        if epoch not in self.scheduler.rungs(bracket):
            return True
        self._check_shared(study)  # at a rung only: a storage read, not one per epoch
        names = [f"objective_{i}" for i in range(len(values))]
        signs = {n: -1.0 if d == StudyDirection.MAXIMIZE else 1.0 for n, d in zip(names, study.directions)}
        rung = rung_decision([t for t in study.get_trials(deepcopy=False) if t.number != trial.number], key,
                             bracket, epoch, dict(zip(names, map(float, values))), signs, self.scheduler.eta,
                             lambda t: (self.key(t), _own_rungs(t)), self.clock())
        rung["trial"] = trial.number
        trial.set_user_attr(RUNGS, [*_own_rungs(trial), rung])  # before going on: what the others read
        return bool(rung["go"])

    def _check_shared(self, study: optuna.Study) -> None:
        """Every worker decides by the same scheduler: the first to reach a rung records it."""
        setup = self.scheduler.setup()
        shared = study.user_attrs.get(SCHEDULER)
        if shared is None:
            study.set_user_attr(SCHEDULER, setup)
        elif shared != setup:
            raise ValueError(f"this study's rungs were decided by {shared}, not {setup}: every worker needs the "
                             "same scheduler")
