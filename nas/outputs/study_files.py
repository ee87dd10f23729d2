"""``runs/<study>/`` and the W&B study run, kept current at a cost that does not grow with the study.

While a study runs, each finished trial costs one appended row in ``trials.csv``,
one dominance check against the current Pareto set, one exclusive hypervolume
contribution appended to ``hypervolume.csv``, and one row added to the W&B
study table. ``pareto.csv`` and ``pareto/*.yaml`` change only when the front
does; the plots are redrawn once the front has changed and ``plot_every``
seconds have passed. :meth:`Outputs.start` writes the finished trials from the
storage when a worker starts (a resume); :meth:`Outputs.finish` writes every
trial, in trial order, when it stops — so the files are complete and correct at
the end whatever happened in between (a reason amended when an interrupted trial
is run again, rows from other workers, trials still queued).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.files import replacing, trial_stem
from nas.genotype import Genotype
from nas.outputs import plots, weights
from nas.outputs.wandb import NullLogger
from nas.pareto.front import Front
from nas.pareto.objectives import plain
from nas.study.record import Status, TrialRecord
from nas.study.slots import FINISHED, counted, retries
from nas.training import heatmap


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """All of ``rows``, atomically (workers on one machine write the same files)."""
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    with replacing(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


class CsvLog:
    """A CSV file that grows by appended rows; rewritten only when a row brings a new column
    (a conditional parameter seen for the first time), which happens a bounded number of times."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        self.columns: list[str] = []

    def reset(self, rows: list[dict[str, Any]]) -> None:
        self.rows = list(rows)
        self.columns = []
        for row in rows:
            self.columns += [k for k in row if k not in self.columns]
        write_csv(self.path, self.rows)

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if not self.path.exists() or any(k not in self.columns for k in row):
            self.reset(self.rows)
            return
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.columns).writerow(row)


class Outputs:
    """What ``runs/<study>/`` holds: trials.csv; pareto.csv and pareto/<trial>-<id>.yaml;
    pareto.png and pareto_{params,macs}.html; hypervolume.csv/.png; heatmaps/ and weights/ of
    the Pareto trials; and the W&B study run's table and charts."""

    def __init__(self, out_dir: Path, objectives: list[str], logger: NullLogger | None = None, *,
                 plot_every: float = 60.0, live: bool = True) -> None:
        self.out_dir, self.objectives = out_dir, objectives
        self.logger = logger or NullLogger()
        self.plot_every, self.live = plot_every, live
        self.trials = CsvLog(out_dir / "trials.csv")
        self.hypervolume = CsvLog(out_dir / "hypervolume.csv")
        self.logged: set[int] = set()  # trials whose row the W&B table has (once per process)
        self._clear()

    def _clear(self) -> None:
        self.seen: set[int] = set()
        self.front = Front(self.objectives)
        self.complete: dict[int, dict[str, Any]] = {}  # rows of the completed trials
        self.stopped: dict[int, dict[str, Any]] = {}  # rows of the trials the scheduler stopped (drawn grey)
        self.records: dict[int, TrialRecord] = {}  # of the completed trials: the front's genotypes and heat maps
        self.front_changed = False  # pareto.csv and pareto/ are behind
        self.plot_pending = False  # the plots are behind
        self.last_plot = -float("inf")

    # ---- while the study runs -------------------------------------------------------

    def update(self, trials: list[FrozenTrial]) -> None:
        """Take in the trials that finished since the last call."""
        new = sorted((t for t in trials if t.state in FINISHED and t.number not in self.seen), key=finish_order)
        for t in new:
            record = TrialRecord.of(t)
            if self.live:
                self._add(record, append=True)
            else:  # only the front, for the weights below: worker 0 writes the files
                self.seen.add(record.number)
                if record.state == TrialState.COMPLETE:
                    self.front.add(record.number, record.values)
        weights.drop(self.out_dir, self.seen, set(self.front.members))
        if not self.live:
            return
        if self.front_changed:
            self._write_front()
        if self.plot_pending and time.monotonic() - self.last_plot >= self.plot_every:
            self._plot()

    def _add(self, record: TrialRecord, *, append: bool) -> None:
        self.seen.add(record.number)
        row = record.row()
        if append:
            self.trials.append(row)
        if record.stopped:
            self.stopped[record.number] = row
            self.plot_pending = True
        if record.state != TrialState.COMPLETE:
            return
        self.complete[record.number] = row
        self.records[record.number] = record
        if self.front.add(record.number, record.values):
            self.front_changed = self.plot_pending = True
        hv_row = {"completed": len(self.complete), "trial": record.number, "hypervolume": self.front.value}
        if append:
            self.hypervolume.append(hv_row)
        else:
            self.hypervolume.rows.append(hv_row)
        if record.number not in self.logged:
            self.logger.add_row(row, on_front=record.number in self.front.members)
            self.logged.add(record.number)

    def _write_front(self) -> None:
        front = sorted(self.front.members)
        write_csv(self.out_dir / "pareto.csv", [self.complete[n] for n in front])
        folder = self.out_dir / "pareto"
        folder.mkdir(exist_ok=True)
        keep = set()
        for n in front:
            record = self.records[n]
            path = folder / f"{trial_stem(n, record.genotype_id)}.yaml"
            keep.add(path.name)
            if not path.exists():
                Genotype.from_dict(record.genotype).save(path)
        for old in folder.glob("*.yaml"):
            if old.name not in keep:
                old.unlink(missing_ok=True)  # no longer on the front (another worker may have removed it)
        self.front_changed = False

    def _plot(self) -> None:
        if not self.complete:
            return
        rows = [self.complete[n] for n in sorted(self.complete)] + [self.stopped[n] for n in sorted(self.stopped)]
        front = set(self.front.members)
        plots.plot(rows, front, self.out_dir)
        plots.plot_hypervolume(self.history, self.out_dir)
        for n in front:
            self.heatmap_png(self.records[n])
        self.logger.study(rows, front, self.out_dir)
        self.last_plot = time.monotonic()
        self.plot_pending = False

    def heatmap_png(self, record: TrialRecord) -> Path | None:
        """runs/<study>/heatmaps/trial<N>-<id>.png from the connection strengths the trial stored."""
        if not record.heatmaps:
            return None
        path = self.out_dir / "heatmaps" / f"{trial_stem(record.number, record.genotype_id)}.png"
        if not path.exists():
            maps = [heatmap.Heatmap.from_dict(d) for d in record.heatmaps]
            heatmap.plot(maps, path, f"trial {record.number}: {record.genotype_name}")
        return path

    # ---- from the storage -------------------------------------------------------------

    def start(self, trials: list[FrozenTrial]) -> None:
        """What the study has finished so far, before this worker adds to it (no plots)."""
        self._rewrite([t for t in trials if t.state in FINISHED], plots=False)

    def finish(self, trials: list[FrozenTrial]) -> None:
        """Every file from the stored trials, in trial order, queued and running ones included."""
        self._rewrite(trials, plots=True)

    def _rewrite(self, trials: list[FrozenTrial], *, plots: bool) -> None:
        self._clear()
        self.hypervolume.rows = []  # rebuilt below, in the order the trials finished
        reruns = retries(trials)
        records = {t.number: TrialRecord.of(t) for t in trials}
        for t in sorted((t for t in trials if t.state in FINISHED), key=finish_order):  # the history's order
            self._add(records[t.number], append=False)
        self.trials.reset([records[n].row(reruns) for n in sorted(records)])
        self.hypervolume.reset(self.hypervolume.rows)
        self._write_front()
        weights.drop(self.out_dir, self.seen, set(self.front.members))
        if plots:
            self._plot()

    @property
    def history(self) -> list[float]:
        return [r["hypervolume"] for r in self.hypervolume.rows]


def finish_order(t: FrozenTrial) -> tuple:
    """The order trials finished in (what the hypervolume history follows; with several workers
    it is not the trial numbers' order)."""
    return (t.datetime_complete is None, t.datetime_complete or 0, t.number)


def summary(study: optuna.Study, objectives: list[str], outputs: Outputs) -> dict[str, Any]:
    """The JSON line a search prints last."""
    trials = study.get_trials(deepcopy=False)
    records = [TrialRecord.of(t) for t in counted(trials)]
    statuses = [r.status for r in records]
    front = [outputs.records[n] for n in sorted(outputs.front.members)]
    return {
        "study_name": study.study_name,
        "n_complete": sum(r.state == TrialState.COMPLETE for r in records),
        "n_failed": sum(r.state == TrialState.FAIL for r in records),
        "n_infeasible": statuses.count(Status.INFEASIBLE),
        "n_duplicate": statuses.count(Status.DUPLICATE),
        "n_stopped": statuses.count(Status.STOPPED),
        "n_interrupted": sum(TrialRecord.of(t).interrupted for t in trials),
        "objectives": objectives,
        "pareto": [{"trial": r.number, "name": r.genotype_name,
                    **{o: plain(o, v) for o, v in zip(objectives, r.values)}} for r in front],
        "hypervolume": outputs.front.value,
        "out_dir": str(outputs.out_dir),
    }
