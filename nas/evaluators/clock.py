"""The time a study runs on: the machine's, or a simulated one shared by simulated workers (:mod:`nas.workers.simulate`).

Everything in a study that stamps or waits (rung arrivals, trial durations, a worker waiting
for the others) reads one :class:`Clock`, so that a replayed study orders its events exactly as
a real one would.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Protocol


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


class _Abort(BaseException):
    """Unwinds the other workers when one fails (not an Exception: no trial may catch it)."""


class SimulatedClock:
    """Simulated seconds shared by workers that run in threads, one at a time: the one whose next
    event (:meth:`sleep`'s end) is earliest, ties going to the lower worker."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: dict[int, float] = {}  # worker → when it runs next
        self._now = 0.0
        self._running: int | None = None
        self._local = threading.local()
        self._failure: BaseException | None = None

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        me = self._local.worker
        with self._cond:
            self._due[me] = self._now + max(0.0, float(seconds))
            self._hand_over()
            self._wait_turn(me)

    def run(self, workers: list[Callable[[], None]]) -> None:
        """Run every worker to its end, each in a thread, from time 0; re-raise the first failure."""
        with self._cond:
            self._due = {i: 0.0 for i in range(len(workers))}
            self._hand_over()
        threads = [threading.Thread(target=self._body, args=(i, fn), name=f"simulated-worker-{i}", daemon=True)
                   for i, fn in enumerate(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if self._failure is not None:
            raise self._failure

    def _body(self, worker: int, fn: Callable[[], None]) -> None:
        self._local.worker = worker
        try:
            with self._cond:
                self._wait_turn(worker)
            fn()
        except _Abort:
            pass
        except BaseException as e:  # noqa: BLE001 - handed to run(), which re-raises it
            with self._cond:
                self._failure = self._failure or e
                self._cond.notify_all()
        finally:
            with self._cond:
                self._due.pop(worker, None)
                if self._running == worker:
                    self._hand_over()

    def _hand_over(self) -> None:
        """Give the turn to the worker due first (called holding the lock)."""
        self._running = min(self._due, key=lambda w: (self._due[w], w)) if self._due else None
        if self._running is not None:
            self._now = self._due[self._running]
        self._cond.notify_all()

    def _wait_turn(self, me: int) -> None:
        self._cond.wait_for(lambda: self._running == me or self._failure is not None)
        if self._failure is not None:
            raise _Abort
