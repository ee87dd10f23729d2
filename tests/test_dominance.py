"""Non-dominated sorting."""

import numpy as np
import pytest

from nas.pareto.dominance import front_ranks


def test_front_ranks_follow_dominance():
    # losses: A and B trade off; C is dominated by A and B; D by A, B and C
    A, B, C, D = np.array([-0.9, 100]), np.array([-0.8, 50]), np.array([-0.7, 200]), np.array([-0.6, 300])
    assert front_ranks(np.array([A, B, C, D])).tolist() == [0, 0, 1, 2]
    assert front_ranks(np.array([D, C, B, A])).tolist() == [2, 1, 0, 0]


@pytest.mark.parametrize("n, decimals", [(1, 1), (40, 1), (300, 1), (300, 3)])
def test_front_ranks_equal_the_definition_on_random_sets_with_ties(n, decimals):
    points = np.random.default_rng(n).random((n, 3)).round(decimals)
    ranks = front_ranks(points)
    for i in range(n):  # rank r: dominated by some trial of rank r − 1 and by none of rank ≥ r
        dominators = [j for j in range(n) if (points[j] <= points[i]).all() and (points[j] < points[i]).any()]
        assert all(ranks[j] < ranks[i] for j in dominators)
        assert ranks[i] == 0 or any(ranks[j] == ranks[i] - 1 for j in dominators)
