"""Rules that end a run after an epoch: each looks at the epoch's validation result and either
lets the run go on (None) or stops it with an outcome and a reason. The trainer applies them in
order; the chance guard is one, a scheduler's rung decision (:mod:`nas.study.rungs`) another."""

from __future__ import annotations

import math
from typing import Any, Callable

Verdict = tuple[str, str]  # (the trainer's outcome, e.g. "chance" or "stopped"; the reason)
Rule = Callable[[int, dict[str, Any]], "Verdict | None"]  # (epoch, its history entry) → verdict


def at_chance(accuracy: float, num_classes: int, n: int) -> bool:
    """Accuracy within two binomial standard deviations of guessing on ``n`` validation images."""
    p = 1 / num_classes
    return accuracy <= p + 2 * math.sqrt(p * (1 - p) / n)


def chance_rule(num_classes: int, n_val: int) -> Rule:
    """Stop after epoch 1 a run whose validation accuracy cannot be told from guessing."""
    def rule(epoch: int, entry: dict[str, Any]) -> Verdict | None:
        accuracy = entry["val_accuracy"]
        if epoch == 1 and at_chance(accuracy, num_classes, n_val):
            return "chance", (f"validation accuracy {accuracy:.4f} after epoch 1 is indistinguishable from "
                              f"chance ({1 / num_classes:.4f})")
        return None
    return rule
