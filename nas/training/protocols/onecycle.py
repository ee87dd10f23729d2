"""``onecycle``: a linear warm-up, then a linear decay to zero over the whole run (linear decay to
zero suits fixed budgets: Li et al., "Budgeted Training", ICLR 2020)."""

from __future__ import annotations

from nas.training.protocols.protocol import TrainingProtocol, lr_factor


class OneCycle(TrainingProtocol):
    name = "onecycle"

    def factor(self, step: int) -> float:
        return lr_factor(step, self.total, self.cfg.warmup, "onecycle")
