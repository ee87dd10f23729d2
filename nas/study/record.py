"""The trial record: the one definition of what a search trial is and stores.

Optuna keeps a trial's parameters, state and objective values; everything else a
trial learns (its genotype, metrics, status, reason, training history, heat maps)
is one :class:`TrialRecord`, assembled in memory and stored as a single user
attribute (:data:`RECORD`). While a trial runs, the record is written with its
worker and genotype, again when training starts — what other workers read to
avoid training one genotype twice — and once more with the result.
Every reader goes through :meth:`TrialRecord.of`, and every table of trials is
made of :meth:`TrialRecord.row`.

The objectives a study can have are :data:`nas.pareto.OBJECTIVES`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.files import strict_json
from nas.pareto.objectives import OBJECTIVES
from nas.training.trainer import Outcome

RECORD = "record"  # the user attribute that holds a TrialRecord
# Attributes given to a queued trial when it is enqueued (Optuna stores them before it runs).
BASELINE = "baseline"  # the preset a baseline trial reproduces
PRUNED_FROM = "pruned_from"  # the Pareto trial whose pruned child this is
CHILD_GENOTYPE = "child_genotype"  # that child's genotype (the parameters are the parent's)
# Attributes of the study.
STUDY_OBJECTIVES = "objectives"
STUDY_BASELINES = "baselines_enqueued"
STUDY_SETUP = "setup"  # the data, split and training budget its results depend on


class Status(str, enum.Enum):
    """What became of a trial. The training outcomes are the trainer's own."""

    QUEUED = "queued"  # enqueued (a baseline, a retry, a pruned child), not started yet
    RUNNING = "running"  # asked for, its worker beating
    TRAINING = "training"  # past the duplicate and constraint checks: its genotype is claimed
    OK = Outcome.OK.value
    DIVERGED = Outcome.DIVERGED.value
    CHANCE = Outcome.CHANCE.value
    OOM = Outcome.OOM.value
    STOPPED = Outcome.STOPPED.value  # the scheduler stopped it at a rung (see its rungs); not on the front
    ERROR = "error"  # an unexpected exception; the reason holds it
    DUPLICATE = "duplicate"  # the genotype was trained by another trial
    INFEASIBLE = "infeasible"  # breaks max_params / max_macs; never trained
    INTERRUPTED = "interrupted"  # its worker died or was stopped; the trial is queued again
    SURPLUS = "surplus"  # asked for after other workers filled n_trials; not counted
    SCREENING = "screening"  # a screen's candidate being scored (nas.workers.screen); holds no slot of n_trials
    SCREENED = "screened"  # a candidate the screen did not train; not counted, told pruned so the sampler learns

    def __str__(self) -> str:
        return self.value

    @property
    def trained(self) -> bool:
        """A training result exists: training the genotype again would give the same."""
        return self in (Status.OK, Status.DIVERGED, Status.CHANCE, Status.OOM, Status.STOPPED)

    @property
    def state(self) -> TrialState:
        """The Optuna state a trial that ends with this status is told."""
        if self is Status.OK:
            return TrialState.COMPLETE
        if self in (Status.DUPLICATE, Status.INFEASIBLE, Status.STOPPED, Status.SCREENED):
            return TrialState.PRUNED
        return TrialState.FAIL


# What every trained trial measures (objectives or not), in trials.csv's column order.
_MEASURED = ("val_accuracy", "val_loss", "train_loss", "params", "macs", "images_per_second", "train_seconds",
             "compile_seconds", "wall_seconds", "peak_memory_bytes", "memory_estimate_bytes", "batch_size", "epochs")
METRICS = (*_MEASURED, *(o for o in OBJECTIVES if o not in _MEASURED))  # a new objective is kept without a word here


@dataclass
class TrialRecord:
    """Everything a trial knows beyond Optuna's own fields; see the module docstring."""

    status: Status
    reason: str = ""
    worker: str = ""
    genotype: dict[str, Any] | None = None
    genotype_id: str = ""
    genotype_name: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    heatmaps: list[dict[str, Any]] | None = None
    rungs: list[dict[str, Any]] = field(default_factory=list)  # the scheduler's decisions (nas.workers.rungs)
    proxies: dict[str, dict[str, Any]] = field(default_factory=dict)  # zero-cost proxy → value, seconds, reason
    screen: dict[str, Any] | None = None  # the screen's choice among candidates (nas.workers.screen)
    seed: int | None = None  # the seed it trained with: nas.train at this seed, on its CPU environment, reproduces it
    environment: dict[str, Any] | None = None  # where it trained (nas.training.environment)
    trial_seconds: float | None = None
    ended: float | None = None  # the evaluator's clock when it ended: Unix time, or simulated seconds
    # From the queue (see BASELINE, PRUNED_FROM) and from Optuna:
    baseline: str = ""
    pruned_from: int | None = None
    number: int = -1
    state: TrialState = TrialState.RUNNING
    params: dict[str, Any] = field(default_factory=dict)
    values: list[float] | None = None

    _STORED = ("status", "reason", "worker", "genotype", "genotype_id", "genotype_name", "metrics", "history",
               "heatmaps", "rungs", "proxies", "screen", "seed", "environment", "trial_seconds", "ended")

    @classmethod
    def of(cls, t: FrozenTrial) -> TrialRecord:
        """The record of a stored trial (one that has not stored its record yet is ``running``)."""
        a = t.user_attrs
        stored = dict(a[RECORD]) if RECORD in a else _flat(a)
        status = Status(stored.pop("status", Status.RUNNING))
        return cls(status=status, **{k: v for k, v in stored.items() if k in cls._STORED},
                   baseline=a.get(BASELINE, ""), pruned_from=a.get(PRUNED_FROM),
                   number=t.number, state=t.state, params=dict(t.params), values=t.values)

    def stored(self) -> dict[str, Any]:
        """The JSON-able dict kept under :data:`RECORD` (NaN as null)."""
        out = {k: getattr(self, k) for k in self._STORED if getattr(self, k) not in (None, "", [], {})}
        out["status"] = self.status.value
        return strict_json(out)

    def save(self, trial: optuna.Trial) -> None:
        """One storage write."""
        trial.set_user_attr(RECORD, self.stored())

    @property
    def interrupted(self) -> bool:
        """Its worker died or was stopped before it finished."""
        return self.state == TrialState.FAIL and self.status in (Status.RUNNING, Status.TRAINING, Status.INTERRUPTED)

    @property
    def stopped(self) -> bool:
        """The scheduler stopped it at a rung and the study was told so (not a copy in a retry's record)."""
        return self.status == Status.STOPPED and self.state == TrialState.PRUNED

    @property
    def shown_status(self) -> Status:
        if self.state == TrialState.WAITING:  # a retry carries its dead predecessor's record until it runs
            return Status.QUEUED
        return Status.INTERRUPTED if self.interrupted else self.status

    def shown_reason(self, reruns: dict[int, int]) -> str:
        """The stored reason; for an interrupted trial, what became of it."""
        if self.interrupted and self.number in reruns:
            return f"{self.reason or 'its worker stopped before it finished'}; run again as trial {reruns[self.number]}"
        return self.reason

    def row(self, reruns: dict[int, int] | None = None) -> dict[str, Any]:
        """The row of ``trials.csv`` (and of every table of trials)."""
        row = {"trial": self.number, "state": self.state.name, "status": self.shown_status.value,
               "reason": self.shown_reason(reruns or {}), "genotype_id": self.genotype_id, "name": self.genotype_name,
               BASELINE: self.baseline, PRUNED_FROM: "" if self.pruned_from is None else self.pruned_from,
               "worker": self.worker}
        row.update({k: _blank(self.metrics.get(k)) for k in METRICS})
        row.update({f"proxy:{k}": _blank(v.get("value")) for k, v in self.proxies.items()})
        row.update({f"param:{k}": v for k, v in sorted(self.params.items())})
        return row

    def summary(self) -> dict[str, Any]:
        """What a W&B trial run keeps as its summary."""
        return {"genotype": self.genotype_name, "genotype_id": self.genotype_id, "status": self.status.value,
                "reason": self.reason, **{k: v for k, v in self.metrics.items() if v is not None},
                **{f"proxy/{k}": p["value"] for k, p in self.proxies.items() if p.get("value") is not None}}


RENAMED_SETUP = {"train": {"schedule": "protocol"}}  # setup keys that older versions recorded under other names


def current_setup(setup: dict[str, Any] | None) -> dict[str, Any] | None:
    """A recorded study setup (:data:`STUDY_SETUP`) in today's key names: a study or table made by an
    older version resumes, replays and exports as a new one does."""
    if setup is None:
        return None
    out = dict(setup)
    for group, names in RENAMED_SETUP.items():
        if isinstance(out.get(group), dict):
            out[group] = {names.get(k, k): v for k, v in out[group].items()}
    return out


def study_setup(study: optuna.Study) -> dict[str, Any] | None:
    """The setup a study recorded (the data, split and budget its results depend on), in today's names."""
    return current_setup(study.user_attrs.get(STUDY_SETUP))


def stored_field(t: FrozenTrial, key: str, default: Any = None) -> Any:
    """One field of a trial's stored record without building the record: the bookkeeping reads
    a few fields of every trial on every step, which must not cost a whole parse each time."""
    attrs = t.user_attrs
    return (attrs[RECORD] if RECORD in attrs else attrs).get(key, default)


def _flat(attrs: dict[str, Any]) -> dict[str, Any]:
    """A record from the separate attributes that studies stored before the record existed
    (one attribute per field, metrics at the top level), so those studies resume and report."""
    if "status" not in attrs:
        return {}
    record = {k: attrs[k] for k in TrialRecord._STORED if k in attrs and k != "metrics"}
    record["metrics"] = {k: attrs[k] for k in METRICS if k in attrs}
    return record


def _blank(value: Any) -> Any:
    return "" if value is None else value
