"""The data card's figures on tables whose answers are known by construction."""

import itertools

import numpy as np
import pytest

from nas.tabular import card
from nas.tabular.table_file import Run, Table

EFFECT = {"full": 0.0, "nearest": 0.02, "odd_even": -0.01, "clique": -0.04}


def _table(accuracy, replica_shift=None) -> Table:
    """A grid of pattern × size × conv; ``accuracy(pattern, params, conv)`` gives each final accuracy,
    ``replica_shift(i)`` (if any) a second run of every other genotype shifted by it."""
    runs = []
    for i, (pattern, size, conv) in enumerate(itertools.product(EFFECT, (2_000, 8_000, 30_000, 100_000),
                                                                ("standard", "separable"))):
        params = size // (3 if conv == "separable" else 1)
        final = accuracy(pattern, params, conv)
        for replica in range(2 if replica_shift is not None and i % 2 == 0 else 1):
            a = final + (replica_shift(i) if replica else 0.0)
            runs.append(Run(f"g{i}", f"g{i}", {"pattern": pattern, "conv": conv, "size": size}, replica, i, "ok", "",
                            params, params * 100, None, 0.0, ((a / 2, 2.0, 2.0, 1.0, 0.1), (a, 1.5, 1.5, 1.0, 0.1))))
    setup = {"data": "folder", "train_size": 100, "val_size": 50, "split_seed": 0, "image_size": [8, 8],
             "train": {"epochs": 2, "batch_size": 10, "lr": 0.1, "protocol": "ema"}}
    return Table({"name": "made-up"}, setup, {"command": "tests", "cpu_seconds": 36.0, "threads": 1}, tuple(runs))


def test_size_adjusted_recovers_each_patterns_effect_at_equal_parameters():
    table = _table(lambda pattern, params, conv: 0.3 + 0.05 * np.log10(params) + EFFECT[pattern])
    got = card.size_adjusted(table)
    assert set(got) == {"nearest", "odd_even", "clique"}
    for pattern, d in got.items():
        assert d["effect"] == pytest.approx(EFFECT[pattern], abs=1e-9)
        assert d["low"] <= d["effect"] <= d["high"]


def test_size_adjusted_says_nothing_without_full_dense_runs():
    table = _table(lambda pattern, params, conv: 0.5)
    only_sparse = Table(table.space, table.setup, table.build,
                        tuple(r for r in table.runs if r.params["pattern"] != "full"))
    assert card.size_adjusted(only_sparse) == {}


def test_noise_is_measured_on_the_genotypes_trained_twice():
    shifts = {i: 0.01 * (1 if i % 4 == 0 else -1) for i in range(32)}
    table = _table(lambda pattern, params, conv: 0.3 + 0.05 * np.log10(params) + EFFECT[pattern], shifts.get)
    n = card.noise(table)
    assert n["pairs"] == 16 and n["mean_abs_difference"] == pytest.approx(0.01)
    assert 0.9 < n["spearman"] <= 1.0


def test_the_fronts_composition_counts_each_choice_in_the_space_and_on_the_front():
    # accuracy rises with size; separable nets are 1/3 the size at 0.01 less: every choice can reach the front
    table = _table(lambda pattern, params, conv: 0.3 + 0.05 * np.log10(params) + EFFECT[pattern]
                   - (0.01 if conv == "separable" else 0.0))
    front = {r.genotype_id for r in table.front(card.OBJECTIVES)}
    counts = card.composition(table)
    assert sum(n for _, n, _ in counts["pattern"]) == len(table.first())
    for value, n, on in counts["pattern"]:
        assert n == 8 and on == sum(r.params["pattern"] == value for r in table.first() if r.genotype_id in front)
    assert dict((v, on) for v, _, on in counts["pattern"])["clique"] == 0  # 0.04 less at every size


def test_against_full_compares_with_the_best_full_dense_genotype_no_larger():
    table = _table(lambda pattern, params, conv: 0.5 + EFFECT[pattern])  # size does not matter
    got = card.against_full(table)
    assert got["nearest"]["mean"] == pytest.approx(0.02) and got["nearest"]["above"] == 1.0
    assert got["clique"]["mean"] == pytest.approx(-0.04) and got["clique"]["above"] == 0.0


def test_the_card_states_fidelity_cost_and_noise():
    table = _table(lambda pattern, params, conv: 0.3 + 0.05 * np.log10(params) + EFFECT[pattern],
                   lambda i: 0.01 * (-1) ** i)
    text = "\n".join(card.lines(table))
    assert "100 training / 50 validation images" in text and "0.01 CPU-hours" in text
    assert "16 genotypes trained twice" in text and "nearest vs full dense at equal parameters" in text


def test_the_card_ranks_each_epoch_against_the_end():
    table = Table.load("dense_grid")
    by_epoch = card.by_epoch(table)
    assert [e for e, _, _ in by_epoch] == [1, 2, 3, 4, 5]
    assert all(0.8 < rho < 1 and 0.6 < tau < rho for _, rho, tau in by_epoch)
    assert [rho for _, rho, _ in by_epoch] == sorted(rho for _, rho, _ in by_epoch)  # later epochs rank closer to the end
    assert "epoch 3: ρ 0.942" in "\n".join(card.lines(table))

