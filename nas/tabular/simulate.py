"""A whole study replayed on a tabular benchmark: N asynchronous workers on a simulated clock.

Each simulated worker is the real worker loop (:func:`nas.study.worker.work`: ask, duplicate
and constraint checks, rung decisions, records, retries, bookkeeping) in a thread of its own,
with the :class:`~nas.tabular.replay.Replay` evaluator in place of training, on one in-memory
study. The threads take turns on a :class:`SimulatedClock`: exactly one runs at any moment,
the one whose next event is earliest. So everything a worker reads from the study was written
at a simulated time no later than its own, and a seed replays the same study every time.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any, Callable

import optuna

from nas.study.bookkeeping import counted
from nas.study.outputs import Outputs
from nas.study.settings import SearchSettings
from nas.study.wandb_logger import NullLogger
from nas.study.worker import open_worker_study, report, work
from nas.tabular.replay import MEASURED, Replay
from nas.tabular.table import Table


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


class _Quiet:
    """The outputs of a simulated worker that writes none (worker 0 writes the study's)."""

    logger = NullLogger()

    def update(self, trials: list[optuna.trial.FrozenTrial]) -> None:
        pass


def check(settings: SearchSettings, table: Table) -> None:
    """Refuse, in one line, a study the table cannot replay."""
    space = dict(settings.search_space)
    if space != table.space:
        key = next((k for k in sorted(set(space) | set(table.space)) if space.get(k) != table.space.get(k)), "name")
        raise ValueError(f"evaluator=table: the table covers search_space={table.space['name']} with "
                         f"search_space.{key}={table.space.get(key)!r}, not {space.get(key)!r}; search that space "
                         "(e.g. search_space=dense_grid with its defaults) or build a table of yours "
                         "(benchmarks/table/build.sh)")
    missing = [o for o in settings.objectives if o not in MEASURED
               or (o == "latency_batch1_ms" and any(r.latency_batch1_ms is None for r in table.runs))]
    if missing:
        raise ValueError(f"evaluator=table: the table has no {missing[0]}; choose objectives among "
                         f"{', '.join(m for m in MEASURED if m not in missing)}")
    if settings.prune_threshold is not None:
        raise ValueError("evaluator=table: prune_threshold needs the connection strengths of trained weights, "
                         "which a table does not hold; leave prune_threshold null")
    if settings.screen.by and not table.proxies:
        raise ValueError(f"evaluator=table: screen={settings.screen.name} ranks by {', '.join(settings.screen.by)}, and "
                         "this table has no proxy scores; score them (python -m nas.table proxies) or use screen=size")
    if not isinstance(settings.evaluator.get("noise"), bool):
        raise ValueError(f"evaluator.noise={settings.evaluator.get('noise')!r}: true (each trial replays a run drawn at "
                         "its seed) or false (every trial replays the genotype's first run)")
    if settings.evaluator.noise and len(table.pairs()) < 3:
        raise ValueError(f"evaluator.noise=true: the table has {len(table.pairs())} genotypes trained twice, and its seed "
                         "noise is fitted on at least 3; set evaluator.noise=false, or train a replica study "
                         "(benchmarks/table/build.sh)")
    workers = settings.evaluator.workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"evaluator.workers={workers!r}: the number of simulated workers, a whole number ≥ 1")
    if workers > settings.n_trials:  # each simulated worker is a thread: beyond n_trials they only cost
        raise ValueError(f"evaluator.workers={workers}: more simulated workers than n_trials={settings.n_trials} "
                         "would have trials to run; use at most n_trials")


def simulate(settings: SearchSettings, out_dir: Path | None = None, log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Run the study ``settings`` describe against its table, writing its files to ``out_dir``
    (runs/<study_name>); the summary of :func:`nas.study.worker.report`, with the simulated seconds."""
    outputs = Outputs(out_dir or Path("runs") / settings.study_name, list(settings.objectives),
                      plot_every=settings.plot_every)
    study, clock = run(settings, log, outputs)
    return {**report(study, list(settings.objectives), outputs, log), "simulated_seconds": clock.now()}


def run(settings: SearchSettings, log: Callable[[str], Any] = print,
        outputs: Outputs | None = None) -> tuple[optuna.Study, SimulatedClock]:
    """The simulated study (in memory) and its clock, once every worker has stopped; ``outputs``
    (if any) kept current by worker 0, as a real study's."""
    table = Table.load(settings.evaluator.table)
    check(settings, table)
    if settings.scheduler.active:  # the full budget is the table's, as the rest of train is
        settings = dataclasses.replace(settings, scheduler=dataclasses.replace(settings.scheduler,
                                                                               max_epochs=table.epochs))
    n = settings.evaluator.workers
    clock = SimulatedClock()
    evaluator = Replay(table, clock, noise=settings.evaluator.noise)
    storage = optuna.storages.InMemoryStorage()
    setup = {**table.setup, "scheduler": settings.scheduler.setup(), "screen": settings.screen.setup()}
    log(f"evaluator=table: {settings.n_trials} trials replayed from a table of {len(table.genotypes)} genotypes "
        f"({table.epochs} epochs of {table.setup['train_size']:,} images at "
        f"{'×'.join(map(str, table.setup['image_size']))}, train.protocol={table.setup['train']['protocol']}) by "
        f"{n} simulated worker(s), each trial "
        + ("a run drawn at its seed (evaluator.noise)" if settings.evaluator.noise else "its genotype's first run")
        + "; the data and train settings are the table's"
        + (f"; logger={settings.logger.name} is not used (no W&B runs for a simulation)"
           if settings.logger.name != "none" else ""))
    studies = [open_worker_study(storage, dataclasses.replace(settings, worker=i), setup, log) for i in range(n)]

    def worker(i: int) -> Callable[[], None]:
        def body() -> None:
            say = (lambda m: log(f"[{clock.now():9.0f} s] {m}")) if i == 0 else (lambda m: None)
            mine = outputs if i == 0 and outputs is not None else _Quiet()
            work(studies[i], storage, dataclasses.replace(settings, worker=i), evaluator, mine, say)
        return body

    try:
        if outputs is not None:
            outputs.start(studies[0].get_trials(deepcopy=False))
        clock.run([worker(i) for i in range(n)])
    finally:
        if outputs is not None:
            outputs.finish(studies[0].get_trials(deepcopy=False))
    log(f"simulated {clock.now() / 3600:.2f} h on {n} worker(s): "
        f"{len(counted(studies[0].get_trials(deepcopy=False)))} trials counted")
    return studies[0], clock
