"""Rules that end a run after an epoch: each looks at the epoch's validation result and either
lets the run go on (None) or stops it (:class:`Stop`). The trainer applies them in order; the
chance guard is one, a scheduler's rung decision (:mod:`nas.workers.rungs`) another."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Protocol


@dataclass(frozen=True)
class Stop:
    """Why a run ends early, and whether it is hopeless (no better than guessing: a failure) or
    only outranked at a rung (a result)."""

    reason: str
    hopeless: bool = False


Rule = Callable[[int, dict[str, Any]], "Stop | None"]  # (epoch, its history entry) → stop or go on


def at_chance(accuracy: float, num_classes: int, n: int) -> bool:
    """Accuracy within two binomial standard deviations of guessing on ``n`` validation images."""
    p = 1 / num_classes
    return accuracy <= p + 2 * math.sqrt(p * (1 - p) / n)


def chance_rule(num_classes: int, n_val: int) -> Rule:
    """Stop after epoch 1 a run whose validation accuracy cannot be told from guessing."""
    def rule(epoch: int, entry: dict[str, Any]) -> Stop | None:
        accuracy = entry["val_accuracy"]
        if epoch == 1 and at_chance(accuracy, num_classes, n_val):
            return Stop(f"validation accuracy {accuracy:.4f} after epoch 1 is indistinguishable from "
                        f"chance ({1 / num_classes:.4f})", hopeless=True)
        return None
    return rule


class RungRule(Protocol):
    """A scheduler's rule for one trial (:class:`nas.workers.rungs.RungJudge`): it decides at ``rungs``,
    the epochs of the trial's bracket, which the training protocol may need to know in advance."""

    rungs: list[int]

    def __call__(self, epoch: int, entry: dict[str, Any]) -> Stop | None: ...
