"""Where a trial's results come from: the seam between the study loop and training.

The study loop (worker, trial, rung decisions, slots, record, outputs) asks an
:class:`Evaluator` for a genotype's size, its latencies and its training run, and reads the time
from the evaluator's :class:`~nas.evaluators.clock.Clock`. ``evaluator=train`` trains
(:mod:`nas.evaluators.training`); ``evaluator=table`` replays a tabular benchmark on a simulated clock
(:mod:`nas.evaluators.replay`), so that a whole study runs in seconds with everything else unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, ClassVar, Protocol

from nas.evaluators.clock import Clock, SimulatedClock
from nas.genotype import Genotype
from nas.scheduling.rules import RungRule
from nas.study.record import TrialRecord
from nas.study.search_settings import SearchSettings


class Evaluator(Protocol):
    """What a trial asks of whatever produces its results."""

    clock: Clock

    def size(self, genotype: Genotype) -> tuple[int, int]:
        """``(parameters, multiply-adds)``, known before anything is trained; GenotypeError when the
        genotype cannot be evaluated here (images too small for it, not in the table)."""

    def latencies(self, genotype: Genotype, seed: int, names: list[str], record: TrialRecord) -> bool:
        """Measure the latency objectives ``names`` into ``record.metrics`` before training (a scheduler's
        rungs rank on them); False when that fails with a result (``record`` says why)."""

    def proxies(self, genotype: Genotype, seed: int, names: tuple[str, ...]) -> dict[str, dict]:
        """The zero-cost proxies ``names`` of the genotype as initialised with ``seed``, before training:
        per proxy ``{"value", "seconds", "reason"}`` (:func:`nas.training.zero_cost.score`)."""

    def train(self, number: int, genotype: Genotype, seed: int, record: TrialRecord, judge: RungRule | None) -> None:
        """Train trial ``number``'s genotype, ``judge`` (if any) deciding at its rungs, and fill ``record`` in:
        status, reason, history, metrics (and latencies, heat maps, kept weights of a finished run)."""

    def setup(self) -> dict[str, Any]:
        """What the study's results depend on besides the architecture and the scheduler: the data,
        its split, the training budget (recorded with the study; a resume on another is refused)."""


class SimulatedEvaluator(Evaluator, Protocol):
    """An evaluator whose studies run on its simulated clock, with ``workers`` simulated workers."""

    clock: SimulatedClock
    workers: int

    @property
    def epochs(self) -> int:
        """The full budget the results were recorded for (a scheduler's rungs fall below it)."""

    def describe(self, settings: SearchSettings) -> str:
        """What a simulated study is, said once when it starts."""


class EvaluatorClass(Protocol):
    """What the registry (:data:`nas.evaluators.EVALUATORS`) holds: a class with its name, its
    config group's settings and whether its studies run on a simulated clock."""

    name: ClassVar[str]
    Settings: ClassVar[type]  # the evaluator= group's dataclass
    simulated: ClassVar[bool]  # True: the whole study runs in this process, its workers simulated

    @classmethod
    def open(cls, settings: SearchSettings, out_dir: Path, log: Callable[[str], Any]) -> Evaluator:
        """The evaluator of the study ``settings`` describe; ValueError (one line) when it cannot serve it."""
