"""Which trial to take away from a study: the most accurate, the smallest, the knee, or one by number."""

from __future__ import annotations

import math

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from nas.pareto.dominance import on_front, signed
from nas.study.record import TrialRecord

PICKS = ("best-accuracy", "smallest", "knee", "trial=N")


class SelectionError(ValueError):
    pass


def pick(study: optuna.Study, how: str, max_params: int | None = None) -> TrialRecord:
    """``how`` applied to the Pareto set (on the study's own objectives) of the completed trials
    with at most ``max_params`` parameters — not to the study's front filtered afterwards, which
    can be empty when the study traded accuracy against something else than size."""
    if max_params is not None and max_params < 1:
        raise SelectionError(f"--max-params {max_params}: give a positive number of parameters")
    if how not in PICKS[:3] and not how.startswith("trial="):
        raise SelectionError(f"--pick {how!r}: use {', '.join(PICKS)}")
    if how.startswith("trial=") and max_params is not None:
        raise SelectionError(f"--pick {how} names one trial and --max-params chooses among trials; give one of them")
    complete = [TrialRecord.of(t) for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not complete:
        raise SelectionError(f"study {study.study_name!r} has no completed trial to export")
    if how.startswith("trial="):
        return _numbered(complete, how, study.study_name)
    fitting = [r for r in complete if max_params is None or r.metrics["params"] <= max_params]
    if not fitting:
        smallest = min(r.metrics["params"] for r in complete)
        raise SelectionError(f"no completed trial has ≤ {max_params:,} parameters (the smallest has {smallest:,}); "
                             "raise --max-params")
    candidates = pareto_set(fitting, study.directions)
    if how == "best-accuracy":
        return max(candidates, key=lambda r: (r.metrics["val_accuracy"], -r.metrics["params"]))
    if how == "smallest":
        return min(candidates, key=lambda r: (r.metrics["params"], -r.metrics["val_accuracy"]))
    return knee(candidates)


def _numbered(complete: list[TrialRecord], how: str, study_name: str) -> TrialRecord:
    text = how.removeprefix("trial=")
    if not text.isdigit():
        raise SelectionError(f"--pick {how!r}: give a trial number, e.g. --pick trial=12")
    number = int(text)
    for r in complete:
        if r.number == number:
            return r
    raise SelectionError(f"trial {number} is not a completed trial of {study_name!r}")


def pareto_set(records: list[TrialRecord], directions: list[StudyDirection]) -> list[TrialRecord]:
    """The records no other record dominates on the study's objectives (ties all stay)."""
    mask = on_front(signed([r.values for r in records], directions))
    return [r for r, keep in zip(records, mask) if keep]


def knee(records: list[TrialRecord]) -> TrialRecord:
    """The trial farthest above the chord joining the smallest and the most accurate
    trial, in (log10 parameters, accuracy) normalised to the unit square."""
    xs = [math.log10(r.metrics["params"]) for r in records]
    ys = [r.metrics["val_accuracy"] for r in records]
    span_x, span_y = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    pts = [((x - min(xs)) / span_x, (y - min(ys)) / span_y) for x, y in zip(xs, ys)]
    a = min(range(len(records)), key=lambda i: (xs[i], -ys[i]))
    b = max(range(len(records)), key=lambda i: (ys[i], -xs[i]))
    if a == b:  # the smallest is also the most accurate: no chord, and nothing beats it on either axis
        return records[a]
    (x1, y1), (x2, y2) = pts[a], pts[b]

    def above_chord(i: int) -> float:
        x, y = pts[i]
        return ((x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)) / (math.hypot(x2 - x1, y2 - y1) or 1.0)

    return records[max(range(len(records)), key=above_chord)]
