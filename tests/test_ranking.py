"""Pareto order: front, then crowding distance, then arrival."""

import numpy as np
import pytest

from nas.pareto.dominance import front_ranks
from nas.pareto.objectives import losses
from nas.pareto.ranking import crowding, pareto_order
from nas.scheduling.decisions import decide

OBJ = ["val_accuracy", "params"]


def _l(acc: float, params: float) -> np.ndarray:
    return losses([acc, params], OBJ)


D = _l(0.6, 300)  # dominated by every other point here


def test_an_identical_later_result_never_takes_the_far_end_of_a_front():
    e0, e1, c = np.array([0, 2, 1.0]), np.array([2, 0, 1.0]), np.array([1, 1, 2.0])
    order = pareto_order(np.array([e0, e1, c, c.copy()]))
    assert order.tolist() == [0, 1, 2, 3]  # the twin that arrived first keeps the infinite distance
    assert decide(c.copy(), [e0, e1, c], eta=2).position == 4


def test_crowding_breaks_ties_within_a_front():
    # One front of four: P1 and P4 are its ends (infinite distance). By hand:
    # P2: (0.9 - 0.6)/0.4 + (400 - 100)/350 = 0.75 + 0.857 = 1.607
    # P3: (0.89 - 0.5)/0.4 + (390 - 50)/350 = 0.975 + 0.971 = 1.946  — P3 sits where the front is sparse
    p1, p2, p3, p4 = _l(0.9, 400), _l(0.89, 390), _l(0.6, 100), _l(0.5, 50)
    front = np.array([p1, p2, p3, p4])
    assert front_ranks(front).tolist() == [0, 0, 0, 0]
    distance = crowding(front)
    assert np.isinf(distance[[0, 3]]).all()
    assert distance[1] == pytest.approx(0.3 / 0.4 + 300 / 350) and distance[2] == pytest.approx(0.39 / 0.4 + 340 / 350)
    assert pareto_order(front).tolist() == [0, 3, 2, 1]
    # n = 5 with a dominated trial: three go on — the two ends and P3, not P2
    assert decide(p3, [p1, p2, p4, D], eta=2).go is True
    assert decide(p2, [p1, p3, p4, D], eta=2).go is False
