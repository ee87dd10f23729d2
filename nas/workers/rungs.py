"""Rung decisions inside a running trial, made from the study's storage and recorded in it.

At each rung of its bracket (:class:`~nas.scheduling.Scheduler`) a trial compares itself
with the rung results the study holds — every worker's, finished or still running,
one per genotype, in the order they were recorded — decides whether it trains on
(:func:`~nas.scheduling.decide`), and stores that decision in its record before it goes
on. Every input of a decision is stored beside it (the values, the trials it saw), so
any decision can be checked afterwards, and a genotype's decision is never made twice:
a retry of a trial whose worker died takes over the decision recorded for the genotype.

A rung ranks the study's objectives as they stand at that epoch: validation accuracy and
loss of the epoch, the parameters and multiply-adds (known before training), the
inference latencies (measured before training when a scheduler runs) and the images per
second so far. The peak memory of training is only known at its end and is left out.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial

from nas.evaluators.clock import Clock, WallClock
from nas.pareto.objectives import END, EPOCH, LATENCIES, known, losses
from nas.scheduling import Scheduler, decide
from nas.scheduling.rules import Stop
from nas.study.record import TrialRecord

AT_END = known(END)  # objectives only known when training ends
DURING = known(EPOCH)  # objectives that change while a trial trains


def ranked(objectives: list[str]) -> list[str]:
    """The objectives a rung ranks on."""
    return [o for o in objectives if o not in AT_END]


def check_objectives(scheduler: Scheduler, objectives: list[str]) -> None:
    if scheduler.active and not any(o in DURING for o in objectives):
        raise ValueError(f"scheduler={scheduler.name} ranks trials by what changes while they train, but "
                         f"objectives={list(objectives)} has neither val_accuracy nor val_loss; add one, "
                         "or use scheduler=none")


def check_cycles(scheduler: Scheduler, cycle_ends: list[int] | None) -> None:
    """Under a scheduler, rung_cycles ends its cycles at each trial's rungs: other ends are refused."""
    if scheduler.active and cycle_ends is not None:
        raise ValueError(f"train.cycle_ends={cycle_ends} with scheduler={scheduler.name}: under a scheduler "
                         "rung_cycles ends its cycles at each trial's rungs; leave train.cycle_ends null "
                         "(or set the rungs with scheduler.min_epochs and scheduler.eta)")


def before_training(objectives: list[str]) -> list[str]:
    """The objectives to measure before training, so that rungs can rank on them."""
    return [o for o in objectives if o in LATENCIES]


class RungJudge:
    """The rule (:mod:`nas.scheduling.rules`) a scheduled trial's training applies after each epoch."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial, record: TrialRecord, scheduler: Scheduler,
                 objectives: list[str], clock: Clock = WallClock()) -> None:
        self.study, self.trial, self.record, self.scheduler, self.clock = study, trial, record, scheduler, clock
        self.objectives = ranked(objectives)
        self.bracket = scheduler.bracket_of(record.genotype_id)
        self.rungs = scheduler.rungs(self.bracket)
        self.history: list[dict[str, Any]] = []  # the epochs so far (the record gets them when training ends)

    def __call__(self, epoch: int, entry: dict[str, Any]) -> Stop | None:
        self.history.append(entry)
        if epoch not in self.rungs:
            return None
        values = self._values(entry)
        earlier, inherited = population(self.study.get_trials(deepcopy=False), self.bracket, epoch,
                                        self.record.genotype_id)
        if inherited is not None:
            rung = {**{k: v for k, v in inherited[1].items() if k in ("go", "position", "of", "kept")},
                    "inherited_from": inherited[0]}
        else:
            d = decide(losses([values[o] for o in self.objectives], self.objectives),
                       [losses([r["values"][o] for o in self.objectives], self.objectives) for _, r in earlier],
                       self.scheduler.eta)
            rung = {"go": d.go, "position": d.position, "of": d.of, "kept": d.kept}
        rung = {"epoch": epoch, "bracket": self.bracket, "values": values, **rung,
                "seen": [n for n, _ in earlier], "at": self.clock.now()}  # the stamp that orders a rung's arrivals
        self.record.rungs.append(rung)
        self.record.save(self.trial)  # before training on: the decision other workers and retries read
        if rung["go"]:
            return None
        return Stop(describe(rung, self.rungs))

    def _values(self, entry: dict[str, Any]) -> dict[str, float]:
        images = sum(h["images_per_second"] * h["seconds"] for h in self.history)
        so_far = {"val_accuracy": entry["val_accuracy"], "val_loss": entry["val_loss"],
                  "images_per_second": images / max(1e-9, sum(h["seconds"] for h in self.history))}
        return {o: float(so_far[o] if o in so_far else self.record.metrics[o]) for o in self.objectives}


def population(trials: list[FrozenTrial], bracket: int, epoch: int,
               genotype_id: str) -> tuple[list[tuple[int, dict[str, Any]]], tuple[int, dict[str, Any]] | None]:
    """``(earlier, inherited)``: the rung results recorded at (``bracket``, ``epoch``), one per genotype
    in the order recorded, as (trial, rung) — and, when ``genotype_id`` already has one there
    (an earlier attempt at this trial), that one."""
    found: dict[str, tuple[float, int, dict[str, Any]]] = {}
    for t in trials:
        record = TrialRecord.of(t)
        for rung in record.rungs:
            if rung["bracket"] != bracket or rung["epoch"] != epoch:
                continue
            key = (rung["at"], t.number)
            if record.genotype_id not in found or key < found[record.genotype_id][:2]:
                found[record.genotype_id] = (*key, rung)
    mine = found.pop(genotype_id, None)
    earlier = [(n, rung) for _, n, rung in sorted(found.values(), key=lambda x: x[:2])]
    return earlier, None if mine is None else (mine[1], mine[2])


def describe(rung: dict[str, Any], rungs: list[int]) -> str:
    where = f"stopped after epoch {rung['epoch']} (rung {rungs.index(rung['epoch']) + 1} of {len(rungs)}"
    place = f"Pareto place {rung['position']} of {rung['of']} trials at this rung; the first {rung['kept']} go on"
    if "inherited_from" in rung:
        return f"{where}, as decided for this genotype in trial {rung['inherited_from']}: {place})"
    return f"{where}: {place})"


SHORTFALL = "short_of_full_budget"  # the Optuna constraint a stopped trial is told with


def shortfall(record: TrialRecord, max_epochs: int) -> float:
    """What Optuna is told of a stopped trial, as a constraint violation (> 0: infeasible): the
    epochs it fell short of the full budget, plus its place at the rung that stopped it as a
    fraction. TPE puts infeasible trials below every feasible (completed) one and orders them by
    violation, so it learns that stopped architectures are worse than completed ones, and that
    those stopped late and narrowly were the better of them."""
    last = record.rungs[-1]
    return float(max_epochs - last["epoch"]) + last["position"] / last["of"]
