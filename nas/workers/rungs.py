"""Rung decisions inside a running search trial, made from the study's storage and kept in its record.

The decision is :func:`nas.scheduling.pareto_asha.rung_decision`'s, keyed by genotype: one result
per genotype at a rung, and a retry of a trial whose worker died takes over the decision recorded
for its genotype. The judge stores it in the trial's record before training goes on.

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
from nas.pareto.objectives import END, EPOCH, LATENCIES, OBJECTIVES, known
from nas.scheduling import Scheduler
from nas.scheduling.pareto_asha import describe, rung_decision
from nas.scheduling.rules import Stop
from nas.study.record import TrialRecord, stored_field

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
        rung = rung_decision(self.study.get_trials(deepcopy=False), self.record.genotype_id, self.bracket, epoch,
                             values, {o: OBJECTIVES[o].sign for o in self.objectives}, self.scheduler.eta,
                             stored_rungs, self.clock.now())
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


def stored_rungs(t: FrozenTrial) -> tuple[str, list[dict[str, Any]]]:
    """A trial's genotype and rung results, as its record stores them (read without building the record)."""
    return stored_field(t, "genotype_id", ""), stored_field(t, "rungs", [])


SHORTFALL = "short_of_full_budget"  # the Optuna constraint a stopped trial is told with


def shortfall(record: TrialRecord, max_epochs: int) -> float:
    """What Optuna is told of a stopped trial, as a constraint violation (> 0: infeasible): the
    epochs it fell short of the full budget, plus its place at the rung that stopped it as a
    fraction. TPE puts infeasible trials below every feasible (completed) one and orders them by
    violation, so it learns that stopped architectures are worse than completed ones, and that
    those stopped late and narrowly were the better of them."""
    last = record.rungs[-1]
    return float(max_epochs - last["epoch"]) + last["position"] / last["of"]
