"""Multi-fidelity scheduling: which trials train on after each rung, and which stop there."""

from nas.scheduling.asha import SCHEDULERS, Scheduler, scheduler_config
from nas.scheduling.decisions import Decision, decide
from nas.scheduling.rules import Rule, Stop, at_chance, chance_rule

__all__ = ["SCHEDULERS", "Decision", "Rule", "Scheduler", "Stop", "at_chance", "chance_rule", "decide", "scheduler_config"]
