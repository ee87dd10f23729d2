"""The ``scheduler=`` group: none, asynchronous successive halving (ASHA) or its Hyperband brackets.

ASHA (Li et al., MLSys 2020) decides at rungs of ``min_epochs · etaᵏ`` epochs below the
full budget (``max_epochs``, which is ``train.epochs``) whether a running trial trains
on. Hyperband (Li et al., JMLR 2018) hedges the choice of ``min_epochs``: bracket ``b``
starts deciding at ``min_epochs · eta^b``, and the last bracket trains every trial to the
full budget. A trial's bracket follows from its genotype, so that every worker, and a
retry after a crash, puts it in the same one; brackets are drawn in the proportions of
synchronous Hyperband (more trials where the first rung comes early).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from nas.checks import number, one_of, require, whole

SCHEDULERS = ("none", "asha", "hyperband")


@dataclass(frozen=True)
class Scheduler:
    name: str = "none"
    eta: float = 3
    min_epochs: int | None = None  # None: a third of the full budget (the tabular benchmark's evidence)
    max_epochs: int = 10
    brackets: int | None = 1  # hyperband: null = as many as there are rung levels

    def __post_init__(self) -> None:
        require("scheduler.name", self.name, one_of(*SCHEDULERS))
        if self.name == "none":
            return
        require("scheduler.eta", self.eta, number(lambda v: v >= 2, "must be ≥ 2 (each rung keeps the top 1/eta)"))
        require("scheduler.max_epochs", self.max_epochs, whole(2), hint=" (the full budget, train.epochs)")
        require("scheduler.min_epochs", self.min_epochs, whole(1, optional=True, high=self.max_epochs - 1),
                hint=f" (the first rung must come before the full budget of {self.max_epochs} epochs)")
        levels = len(self.levels())
        if self.name == "asha" and self.brackets != 1:
            raise ValueError(f"scheduler.brackets={self.brackets}: asha has one bracket; "
                             "use scheduler=hyperband for several")
        require("scheduler.brackets", self.brackets, whole(1, optional=True, high=levels + 1),
                hint=f" (min_epochs={self.first}, eta={self.eta:g} and {self.max_epochs} epochs give "
                     f"{levels} rung level(s); a last bracket trains every trial fully)")

    @property
    def active(self) -> bool:
        return self.name != "none"

    @property
    def first(self) -> int:
        """The first rung's epoch: ``min_epochs``, or a third of the full budget (at least 1) when unset."""
        return self.min_epochs if self.min_epochs is not None else max(1, round(self.max_epochs / 3))

    def levels(self) -> list[int]:
        """The epochs at which some bracket decides: ``min_epochs · etaᵏ`` below ``max_epochs``."""
        out: list[int] = []
        k = 0
        while (epoch := round(self.first * self.eta ** k)) < self.max_epochs:
            if not out or epoch > out[-1]:
                out.append(epoch)
            k += 1
        return out

    @property
    def n_brackets(self) -> int:
        return len(self.levels()) + 1 if self.brackets is None else self.brackets

    def rungs(self, bracket: int) -> list[int]:
        """The epochs at which a trial of ``bracket`` is ranked."""
        return self.levels()[bracket:]

    def bracket_of(self, genotype_id: str) -> int:
        """The genotype's bracket, the same in every worker and every run."""
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
        """What a study's stopped trials depend on (recorded with the study's setup)."""
        return {"name": "none"} if not self.active else {**asdict(self), "min_epochs": self.first}


def scheduler_config(cfg: Any, train_epochs: int) -> Scheduler:
    """The ``scheduler`` group of a search config, its full budget checked against ``train.epochs``."""
    values = dict(cfg)
    values.setdefault("max_epochs", train_epochs)
    known = {"name", "eta", "min_epochs", "max_epochs", "brackets"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"scheduler.{unknown[0]} is not a setting; scheduler has {', '.join(sorted(known))}")
    if values.get("name") not in (None, "none") and values["max_epochs"] != train_epochs:
        raise ValueError(f"scheduler.max_epochs={values['max_epochs']} but train.epochs={train_epochs}: the full "
                         "budget is train.epochs; set train.epochs instead (scheduler.max_epochs follows it)")
    return Scheduler(**values)
