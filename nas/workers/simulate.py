"""A whole study on a simulated evaluator (a tabular benchmark): N asynchronous workers on a simulated clock.

Each simulated worker is the real worker loop (:func:`nas.workers.worker.work`: ask, duplicate
and constraint checks, rung decisions, records, retries, slots) in a thread of its own, with a
simulated evaluator (:class:`~nas.evaluators.replay.Replay`) in place of training, on one in-memory
study. The threads take turns on a :class:`~nas.evaluators.clock.SimulatedClock`: exactly one runs at any moment,
the one whose next event is earliest. So everything a worker reads from the study was written
at a simulated time no later than its own, and a seed replays the same study every time.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import optuna

from nas.evaluators import evaluator_class
from nas.evaluators.clock import SimulatedClock
from nas.evaluators.interface import SimulatedEvaluator
from nas.files import study_dir
from nas.outputs.study_files import Outputs
from nas.outputs.wandb import NullLogger
from nas.study.search_settings import SearchSettings
from nas.study.slots import counted
from nas.workers.worker import open_worker_study, report, work


class _Quiet:
    """The outputs of a simulated worker that writes none (worker 0 writes the study's)."""

    logger = NullLogger()

    def update(self, trials: list[optuna.trial.FrozenTrial]) -> None:
        pass


def simulate(settings: SearchSettings, evaluator: SimulatedEvaluator, out_dir: Path,
             log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Run the study ``settings`` describe on a simulated ``evaluator``, writing its files to ``out_dir``;
    the summary of :func:`nas.workers.worker.report`, with the simulated seconds."""
    outputs = Outputs(out_dir, list(settings.objectives), plot_every=settings.plot_every)
    study, clock = run(settings, log, outputs, evaluator)
    return {**report(study, list(settings.objectives), outputs, log), "simulated_seconds": clock.now()}


def run(settings: SearchSettings, log: Callable[[str], Any] = print, outputs: Outputs | None = None,
        evaluator: SimulatedEvaluator | None = None) -> tuple[optuna.Study, SimulatedClock]:
    """The simulated study (in memory) and its clock, once every worker has stopped; ``outputs``
    (if any) kept current by worker 0, as a real study's. ``evaluator``: by default, the one
    ``settings.evaluator`` names, opened here."""
    if evaluator is None:
        evaluator = evaluator_class(settings.evaluator.name).open(settings, study_dir(settings.study_name), log)
    if settings.scheduler.active:  # the full budget is the evaluator's, as the rest of train is
        settings = dataclasses.replace(settings, scheduler=dataclasses.replace(settings.scheduler,
                                                                               max_epochs=evaluator.epochs))
    n, clock = evaluator.workers, evaluator.clock
    storage = optuna.storages.InMemoryStorage()
    setup = {**evaluator.setup(), "scheduler": settings.scheduler.setup(), "screen": settings.screen.setup()}
    log(evaluator.describe(settings)
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
