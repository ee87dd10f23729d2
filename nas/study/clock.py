"""The time a study runs on: the machine's, or a simulated one (:mod:`nas.tabular.simulate`).

Everything in a study that stamps or waits (rung arrivals, trial durations, a worker waiting
for the others) reads one :class:`Clock`, so that a replayed study orders its events exactly as
a real one would.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds (Unix time, or simulated)."""

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass (a worker waiting for other workers' trials)."""


class WallClock:
    """The machine's time."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
