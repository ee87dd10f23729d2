"""``cosine``: a linear warm-up, then a cosine decay to zero over the whole run."""

from __future__ import annotations

from nas.training.protocols.protocol import TrainingProtocol, lr_factor


class Cosine(TrainingProtocol):
    name = "cosine"

    def factor(self, step: int) -> float:
        return lr_factor(step, self.total, self.cfg.warmup, "cosine")
