"""The ``scheduler=`` group, multi-fidelity schedulers: one small class each, listed in :data:`SCHEDULERS`.

A scheduler says at which epochs (rungs) a trial is ranked against the others that reached
them, and so whether it trains on; the decision itself is Pareto-rank promotion
(:mod:`nas.scheduling.decisions`) and the same for all of them.

- ``none``: no rungs; every trial trains the full budget.
- ``asha``: asynchronous successive halving (Li et al., MLSys 2020) decides at rungs of
  ``min_epochs · etaᵏ`` epochs below the full budget (``max_epochs``, which is ``train.epochs``).
- ``hyperband`` (Li et al., JMLR 2018) hedges the choice of ``min_epochs``: bracket ``b``
  starts deciding at ``min_epochs · eta^b``, and the last bracket trains every trial to the full
  budget. A trial's bracket follows from its genotype, so that every worker, and a retry after a
  crash, puts it in the same one; brackets are drawn in the proportions of synchronous Hyperband
  (more trials where the first rung comes early).

Adding a scheduler: its class here (or in a module of its own), its line in :data:`SCHEDULERS`,
its ``conf/scheduler/<name>.yaml`` and its test.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Mapping

from nas.checks import number, registered, require, whole


@dataclass(frozen=True)
class Scheduler:
    """What every scheduler is, and ``scheduler=none``: no rungs, every trial trains the full budget."""

    name: ClassVar[str] = "none"
    max_epochs: int = 10

    @property
    def active(self) -> bool:
        return False

    def levels(self) -> list[int]:
        """The epochs at which some bracket decides."""
        return []

    @property
    def n_brackets(self) -> int:
        return 1

    def rungs(self, bracket: int) -> list[int]:
        """The epochs at which a trial of ``bracket`` is ranked."""
        return self.levels()[bracket:]

    def bracket_of(self, genotype_id: str) -> int:
        """The genotype's bracket, the same in every worker and every run."""
        return 0

    def setup(self) -> dict[str, Any]:
        """What a study's stopped trials depend on (recorded with the study's setup)."""
        return {"name": self.name}


@dataclass(frozen=True)
class ASHA(Scheduler):
    """``scheduler=asha``: rungs at ``min_epochs · etaᵏ`` epochs below the full budget, one bracket."""

    name: ClassVar[str] = "asha"
    eta: float = 3
    min_epochs: int | None = None  # None: a third of the full budget (the tabular benchmark's evidence)

    def __post_init__(self) -> None:
        require("scheduler.eta", self.eta, number(lambda v: v >= 2, "must be ≥ 2 (each rung keeps the top 1/eta)"))
        require("scheduler.max_epochs", self.max_epochs, whole(2), hint=" (the full budget, train.epochs)")
        require("scheduler.min_epochs", self.min_epochs, whole(1, optional=True, high=self.max_epochs - 1),
                hint=f" (the first rung must come before the full budget of {self.max_epochs} epochs)")

    @property
    def active(self) -> bool:
        return True

    @property
    def first(self) -> int:
        """The first rung's epoch: ``min_epochs``, or a third of the full budget (at least 1) when unset."""
        return self.min_epochs if self.min_epochs is not None else max(1, round(self.max_epochs / 3))

    def levels(self) -> list[int]:
        out: list[int] = []
        k = 0
        while (epoch := round(self.first * self.eta ** k)) < self.max_epochs:
            if not out or epoch > out[-1]:
                out.append(epoch)
            k += 1
        return out

    def setup(self) -> dict[str, Any]:
        return {"name": self.name, "eta": self.eta, "min_epochs": self.first, "max_epochs": self.max_epochs,
                "brackets": self.n_brackets}


@dataclass(frozen=True)
class Hyperband(ASHA):
    """``scheduler=hyperband``: ``brackets`` brackets of ASHA, each starting one rung later."""

    name: ClassVar[str] = "hyperband"
    brackets: int | None = 1  # None: as many as there are rung levels, plus one that trains fully

    def __post_init__(self) -> None:
        super().__post_init__()
        levels = len(self.levels())
        require("scheduler.brackets", self.brackets, whole(1, optional=True, high=levels + 1),
                hint=f" (min_epochs={self.first}, eta={self.eta:g} and {self.max_epochs} epochs give "
                     f"{levels} rung level(s); a last bracket trains every trial fully)")

    @property
    def n_brackets(self) -> int:
        return len(self.levels()) + 1 if self.brackets is None else self.brackets

    def bracket_of(self, genotype_id: str) -> int:
        n = self.n_brackets
        if n == 1:
            return 0
        # synchronous Hyperband's share of configurations per bracket: (s_max + 1) / (s + 1) · eta^s,
        # s = the number of rungs in the bracket
        weights = [(n / (len(self.rungs(b)) + 1)) * self.eta ** len(self.rungs(b)) for b in range(n)]
        u = int(hashlib.sha256(genotype_id.encode()).hexdigest()[:12], 16) / 16 ** 12
        total, edge = sum(weights), 0.0
        for b, w in enumerate(weights):
            edge += w / total
            if u < edge:
                return b
        return n - 1

    def setup(self) -> dict[str, Any]:
        return {**super().setup(), "brackets": self.brackets}


SCHEDULERS: dict[str, type[Scheduler]] = {s.name: s for s in (Scheduler, ASHA, Hyperband)}


def make_scheduler(values: Mapping[str, Any], train_epochs: int) -> Scheduler:
    """The ``scheduler`` group of a search config (a plain mapping), its full budget checked against
    ``train.epochs``; ValueError names a bad setting and lists the registered schedulers."""
    values = dict(values)
    name = values.pop("name", "none")
    cls = registered(SCHEDULERS, name, "scheduler", "scheduler")
    values.setdefault("max_epochs", train_epochs)
    if name == "asha" and "brackets" in values:  # conf/scheduler/asha.yaml says brackets: 1, asha's only choice
        if values["brackets"] != 1:
            raise ValueError(f"scheduler.brackets={values['brackets']}: asha has one bracket; "
                             "use scheduler=hyperband for several")
        del values["brackets"]
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if name == "none":  # settings of the other schedulers mean nothing here
        unknown = sorted(set(unknown) - {f.name for s in SCHEDULERS.values() for f in fields(s)})
    if unknown:
        raise ValueError(f"scheduler.{unknown[0]} is not a setting; scheduler={name} has "
                         f"{', '.join(sorted(known | {'name'}))}")
    if name != "none" and values["max_epochs"] != train_epochs:
        raise ValueError(f"scheduler.max_epochs={values['max_epochs']} but train.epochs={train_epochs}: the full "
                         "budget is train.epochs; set train.epochs instead (scheduler.max_epochs follows it)")
    return cls(**{k: v for k, v in values.items() if k in known})
