"""Evaluators: where a trial's results come from (:mod:`nas.evaluators.interface`), one class each,
listed in :data:`EVALUATORS` under the name ``evaluator=`` gives it.

Adding an evaluator: its module (a class with ``name``, ``Settings``, ``simulated``, ``open`` and
the :class:`~nas.evaluators.interface.Evaluator` methods), its line here, its
``conf/evaluator/<name>.yaml`` and its test.
"""

from __future__ import annotations

from nas.checks import registered
from nas.evaluators.interface import Evaluator, EvaluatorClass
from nas.evaluators.replay import Replay
from nas.evaluators.surrogate import SurrogateReplay
from nas.evaluators.training import Training

EVALUATORS: dict[str, EvaluatorClass] = {e.name: e for e in (Training, Replay, SurrogateReplay)}


def evaluator_class(name: str) -> EvaluatorClass:
    """The evaluator ``evaluator=name`` names; ValueError lists the registered ones."""
    return registered(EVALUATORS, name, "evaluator", "evaluator")


__all__ = ["EVALUATORS", "Evaluator", "EvaluatorClass", "Replay", "SurrogateReplay", "Training", "evaluator_class"]
