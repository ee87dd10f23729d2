import itertools

import numpy as np
import pytest
from optuna._hypervolume import compute_hypervolume

from nas.pareto.dominance import weakly_nondominated as nondominated
from nas.pareto.hypervolume import HypervolumeHistory, contribution, hypervolume


def optuna_hv(points: np.ndarray, reference: np.ndarray) -> float:
    """Optuna's exact WFG, the reference implementation; it refuses points outside the box."""
    inside = points[(points < reference).all(axis=1)]
    return compute_hypervolume(inside, reference) if len(inside) else 0.0


def messy_set(rng: np.random.Generator, d: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Points on a coarse grid (ties), with repeated rows, dominated ones and some outside."""
    grid = rng.integers(0, 7, size=(n, d)).astype(float) / 2
    repeats = grid[rng.integers(0, n, size=n // 5)]
    outside = rng.uniform(0, 4, size=(n // 6 + 1, d))
    outside[:, rng.integers(0, d)] = 3.0 + rng.uniform(0, 1)  # on or beyond the reference
    points = np.vstack([grid, repeats, outside])
    return rng.permutation(points), np.full(d, 3.0)


def front_set(rng: np.random.Generator, d: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mostly non-dominated points on a concave surface, a few pushed back (dominated)."""
    g = np.abs(rng.normal(size=(n, d)))
    points = 1 - g / np.linalg.norm(g, axis=1, keepdims=True)
    points[: n // 5] += rng.uniform(0, 0.1, size=(n // 5, d))
    return rng.permutation(points), np.full(d, 1.1)


@pytest.mark.parametrize("d", [2, 3, 4, 5])
@pytest.mark.parametrize("seed", range(6))
def test_matches_optuna_on_messy_sets(d, seed):
    rng = np.random.default_rng(1000 * d + seed)
    points, reference = messy_set(rng, d, int(rng.integers(1, 50)))
    assert hypervolume(points, reference) == pytest.approx(optuna_hv(points, reference), rel=1e-9, abs=0)


@pytest.mark.parametrize("d", [2, 3, 4, 5])
@pytest.mark.parametrize("seed", range(4))
def test_matches_optuna_on_uniform_sets(d, seed):
    rng = np.random.default_rng(2000 * d + seed)
    points = rng.uniform(size=(int(rng.integers(1, 61)), d))
    reference = np.full(d, 0.9)  # some points fall outside
    assert hypervolume(points, reference) == pytest.approx(optuna_hv(points, reference), rel=1e-9, abs=0)


@pytest.mark.parametrize("d,n", [(2, 60), (3, 60), (4, 50), (5, 35)])
@pytest.mark.parametrize("seed", range(3))
def test_matches_optuna_on_fronts(d, n, seed):
    rng = np.random.default_rng(3000 * d + seed)
    points, reference = front_set(rng, d, n)
    assert hypervolume(points, reference) == pytest.approx(optuna_hv(points, reference), rel=1e-9, abs=0)


def test_one_box():
    assert hypervolume(np.array([[1.0, 2.0]]), np.array([3.0, 3.0])) == 2.0
    assert hypervolume(np.array([[1.0, 2.0, 0.0]]), np.array([3.0, 3.0, 2.0])) == 4.0
    assert hypervolume(np.array([[1.0, 2.0, 0.0, 1.0]]), np.array([3.0, 3.0, 2.0, 4.0])) == 12.0
    assert hypervolume(np.array([[2.0], [0.5]]), np.array([3.0])) == 2.5


def test_two_overlapping_boxes_2d():
    # [1, 3) × [2, 3) and [2, 3) × [1, 3) overlap in [2, 3) × [2, 3): 2 + 2 − 1.
    assert hypervolume(np.array([[1.0, 2.0], [2.0, 1.0]]), np.array([3.0, 3.0])) == 3.0


def test_points_outside_or_on_the_reference_count_for_nothing():
    reference = np.array([3.0, 3.0, 3.0])
    points = np.array([[3.0, 0.0, 0.0], [4.0, 1.0, 1.0], [0.0, 0.0, 5.0]])
    assert hypervolume(points, reference) == 0.0
    assert hypervolume(np.empty((0, 3)), reference) == 0.0
    assert hypervolume(np.vstack([points, [[2.0, 2.0, 2.0]]]), reference) == 1.0


def test_dominated_and_duplicate_points_change_nothing():
    reference = np.array([4.0, 4.0, 4.0, 4.0])
    front = np.array([[1.0, 2.0, 3.0, 1.0], [3.0, 1.0, 1.0, 2.0], [2.0, 3.0, 1.0, 1.0]])
    extra = np.vstack([front, front[:1], front[1] + 0.5, [[3.0, 3.0, 3.0, 3.0]]])
    assert hypervolume(extra, reference) == pytest.approx(hypervolume(front, reference), rel=1e-12)


def test_contribution_by_hand():
    front = np.array([[0.0, 2.0], [2.0, 0.0]])
    reference = np.array([3.0, 3.0])
    assert contribution(np.array([1.0, 1.0]), front, reference) == 1.0  # [1, 2) × [1, 2)
    assert contribution(np.array([2.0, 2.0]), front, reference) == 0.0  # dominated
    assert contribution(np.array([0.0, 2.0]), front, reference) == 0.0  # duplicate
    assert contribution(np.array([1.0, 3.0]), front, reference) == 0.0  # on the reference
    assert contribution(np.array([1.0, 1.0]), np.empty((0, 2)), reference) == 4.0


@pytest.mark.parametrize("d", [2, 3, 4, 5])
def test_contribution_is_the_difference_of_hypervolumes(d):
    rng = np.random.default_rng(d)
    front, reference = front_set(rng, d, 25)
    for point in front_set(rng, d, 8)[0]:
        expected = hypervolume(np.vstack([front, point]), reference) - hypervolume(front, reference)
        assert contribution(point, front, reference) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("d", [2, 3, 4, 5])
def test_history_equals_hypervolume_of_every_prefix(d):
    rng = np.random.default_rng(40 + d)
    points, reference = front_set(rng, d, 30 if d < 5 else 20)
    points = np.vstack([points, points[:3], messy_set(rng, d, 6)[0] / 3])  # repeats, outside
    final = hypervolume(points, reference)
    for order in (np.arange(len(points)), rng.permutation(len(points)), rng.permutation(len(points))):
        history = HypervolumeHistory(reference)
        for k, i in enumerate(order):
            value = history.add(points[i])
            assert value == history.value
            assert value == pytest.approx(hypervolume(points[order[: k + 1]], reference), rel=1e-9, abs=0)
        assert history.value == pytest.approx(final, rel=1e-9)
        assert hypervolume(history.front, reference) == pytest.approx(final, rel=1e-9)
        assert nondominated(history.front).all()


def test_nondominated_by_hand():
    points = np.array([
        [1.0, 2.0],  # kept
        [2.0, 1.0],  # kept
        [2.0, 2.0],  # dominated by both
        [1.0, 2.0],  # duplicate of the first: dropped
        [0.0, 3.0],  # kept
        [1.0, 3.0],  # weakly dominated by [1, 2] and [0, 3]
        [3.0, 1.0],  # weakly dominated by [2, 1]
    ])
    assert nondominated(points).tolist() == [True, True, False, False, True, False, False]
    points3 = np.array([[1, 2, 3], [3, 2, 1], [1, 2, 3], [2, 2, 2], [2, 2, 3], [0, 5, 5]], dtype=float)
    assert nondominated(points3).tolist() == [True, True, False, True, False, True]
    assert nondominated(np.array([[2.0], [1.0], [1.0]])).tolist() == [False, True, False]
    assert nondominated(np.empty((0, 3))).tolist() == []


@pytest.mark.parametrize("n,d", [(40, 3), (400, 3), (300, 5)])  # both the pairwise and the loop path
def test_nondominated_matches_brute_force(n, d):
    rng = np.random.default_rng(n + d)
    points = rng.integers(0, 5, size=(n, d)).astype(float)
    expected = [
        not any((points[j] <= points[i]).all() and ((points[j] < points[i]).any() or j < i) for j in range(n))
        for i in range(n)
    ]
    assert nondominated(points).tolist() == expected


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):
        hypervolume(np.zeros((3, 2)), np.ones(3))
    with pytest.raises(ValueError):
        hypervolume(np.array([[np.nan, 0.0]]), np.ones(2))
    with pytest.raises(ValueError):
        HypervolumeHistory(np.array([1.0, np.inf]))
    assert hypervolume(np.zeros((1, 2)), np.array([1.0, np.inf])) == np.inf


def test_permuting_objectives_keeps_the_value():
    rng = np.random.default_rng(7)
    points, reference = front_set(rng, 4, 30)
    value = hypervolume(points, reference)
    for perm in itertools.islice(itertools.permutations(range(4)), 6):
        assert hypervolume(points[:, perm], reference[list(perm)]) == pytest.approx(value, rel=1e-12)
