"""Multi-fidelity scheduling: at which epochs a trial is ranked, which trials train on, and the rules
that end a run after an epoch. Nothing here knows a genotype, a trainer or Hydra: the rung decisions
serve a plain Optuna study as well (:mod:`nas.scheduling.pareto_asha`)."""

from nas.scheduling.decisions import Decision, decide
from nas.scheduling.rules import Rule, Stop, at_chance, chance_rule
from nas.scheduling.schedulers import ASHA, SCHEDULERS, Hyperband, Scheduler, make_scheduler

__all__ = ["ASHA", "SCHEDULERS", "Decision", "Hyperband", "Rule", "Scheduler", "Stop", "at_chance", "chance_rule",
           "decide", "make_scheduler"]
