"""Rung levels, brackets and Pareto-rank decisions on hand-made rung populations."""

from collections import Counter

import numpy as np
import pytest

from nas.pareto.objectives import losses
from nas.scheduling import ASHA, Hyperband, chance_rule, decide, make_scheduler

OBJ = ["val_accuracy", "params"]


def _l(acc: float, params: float) -> np.ndarray:
    return losses([acc, params], OBJ)


# (accuracy, parameters): A and B trade off; C is dominated by A and B; D by A, B and C.
A, B, C, D = _l(0.9, 100), _l(0.8, 50), _l(0.7, 200), _l(0.6, 300)


def test_a_trial_alone_at_its_rung_goes_on():
    d = decide(D, [], eta=3)
    assert (d.go, d.position, d.of, d.kept) == (True, 1, 1, 1)


def test_the_first_ceil_n_over_eta_go_on():
    # n = 4, eta = 2: two go on. A and B (front 0, both extremes) come first in arrival order; C third.
    assert decide(C, [A, B, D], eta=2).go is False
    assert decide(C, [A, B, D], eta=2).position == 3
    assert decide(B, [A, C, D], eta=2).go is True
    # n = 2, eta = 3: ceil(2/3) = 1 — only the better of two goes on, whichever arrived first
    assert decide(A, [D], eta=3).go is True and decide(D, [A], eta=3).go is False


def test_ties_go_to_the_trial_that_reached_the_rung_first():
    same = _l(0.8, 100)
    d = decide(same, [same.copy()], eta=2)
    assert (d.go, d.position) == (False, 2)  # identical results: the earlier arrival keeps the place
    d = decide(same, [same.copy(), D], eta=2)  # n = 3, kept = 2: the copy first, this one second, D last
    assert (d.go, d.position) == (True, 2)
    assert decide(same, [same.copy(), D], eta=3).go is False  # kept = 1: only the copy
    assert decide(same, [D, D.copy()], eta=2).go is True  # better than both copies of D


def test_rung_levels_and_brackets():
    assert ASHA(eta=3, min_epochs=1, max_epochs=10).levels() == [1, 3, 9]
    assert ASHA(eta=2, min_epochs=1, max_epochs=4).levels() == [1, 2]
    assert ASHA(eta=2, min_epochs=2, max_epochs=16).levels() == [2, 4, 8]
    band = Hyperband(eta=3, min_epochs=1, max_epochs=10, brackets=None)
    assert band.n_brackets == 4 and [band.rungs(b) for b in range(4)] == [[1, 3, 9], [3, 9], [9], []]
    share = Counter(band.bracket_of(f"genotype{i}") for i in range(20000))
    # synchronous Hyperband's proportions: (4/(s+1))·3^s for s = 3, 2, 1, 0 rungs = 27, 12, 6, 4 of 49
    for bracket, weight in enumerate([27, 12, 6, 4]):
        assert share[bracket] / 20000 == pytest.approx(weight / 49, abs=0.015)
    assert band.bracket_of("abc") == band.bracket_of("abc")  # every worker and retry agree
    assert ASHA(max_epochs=10).bracket_of("abc") == 0


@pytest.mark.parametrize("epochs, levels", [(10, [3, 9]), (6, [2]), (27, [9]), (3, [1]), (2, [1])])
def test_the_first_rung_is_a_third_of_the_budget_unless_set(epochs, levels):
    scheduler = ASHA(max_epochs=epochs)
    assert scheduler.levels() == levels
    assert scheduler.setup()["min_epochs"] == levels[0]  # a resume compares the rungs it ran with
    assert ASHA(min_epochs=1, max_epochs=epochs).levels()[0] == 1


@pytest.mark.parametrize("values, message", [
    (dict(name="asha", eta=1), "scheduler.eta=1: must be ≥ 2"),
    (dict(name="asha", min_epochs=10, max_epochs=10), "scheduler.min_epochs=10: must be a whole number ≥ 1 and ≤ 9"),
    (dict(name="asha", max_epochs=1), "scheduler.max_epochs=1: must be a whole number ≥ 2 (the full budget"),
    (dict(name="asha", brackets=2), "scheduler.brackets=2: asha has one bracket"),
    (dict(name="hyperband", brackets=5, min_epochs=1, max_epochs=10),
     "scheduler.brackets=5: must be a whole number ≥ 1 and ≤ 4"),
    (dict(name="sha"), "scheduler=sha: unknown scheduler; choose one of none, asha, hyperband"),
])
def test_bad_settings_are_refused_in_one_line(values, message):
    with pytest.raises(ValueError) as e:
        make_scheduler(values, values.get("max_epochs", 10))
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_the_config_group_follows_train_epochs():
    assert make_scheduler({"name": "asha", "eta": 3, "min_epochs": 1, "max_epochs": 6, "brackets": 1}, 6).levels() == [1, 3]
    with pytest.raises(ValueError, match=r"scheduler.max_epochs=8 but train.epochs=6: the full budget is train.epochs"):
        make_scheduler({"name": "asha", "max_epochs": 8}, 6)
    with pytest.raises(ValueError, match="scheduler.grace is not a setting"):
        make_scheduler({"name": "asha", "grace": 1}, 6)
    assert not make_scheduler({"name": "none"}, 1).active


def test_the_chance_guard_is_a_rule_of_the_first_epoch():
    rule = chance_rule(num_classes=10, n_val=1000)  # chance 0.1, two standard deviations ≈ 0.019
    assert rule(1, {"val_accuracy": 0.11}).hopeless
    assert rule(1, {"val_accuracy": 0.13}) is None
    assert rule(2, {"val_accuracy": 0.1}) is None
