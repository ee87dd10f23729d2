"""A search, from typed settings to its summary: this worker of a real study, or a whole simulated one."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from nas.evaluators import evaluator_class
from nas.files import study_dir
from nas.study.search_settings import SearchSettings
from nas.workers.simulate import simulate
from nas.workers.worker import run_search


def run_study(settings: SearchSettings, out_dir: Path | None = None, log: Callable[[str], Any] = print,
           stop_requested: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Run what ``settings`` describe (:func:`nas.settings.parse_search`), writing ``out_dir``
    (runs/<study_name>); the summary the command prints last."""
    out_dir = out_dir or study_dir(settings.study_name)
    evaluator = evaluator_class(settings.evaluator.name).open(settings, out_dir, log)
    if evaluator.simulated:  # the whole study, its workers simulated, on the evaluator's clock
        return simulate(settings, evaluator, out_dir, log)
    return run_search(settings, evaluator, out_dir, log, stop_requested)
