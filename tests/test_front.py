"""The incrementally kept Pareto set and its hypervolume."""

import math

import numpy as np
import optuna
import pytest

from nas.pareto.front import Front
from nas.pareto.hypervolume import hypervolume
from nas.pareto.objectives import directions, normalised


def test_front_matches_optunas_pareto_set_and_hypervolume_on_random_trials():
    objectives = ["val_accuracy", "params", "macs"]
    rng = np.random.default_rng(0)
    study = optuna.create_study(directions=directions(objectives))
    front = Front(objectives)
    history = []
    for i in range(60):
        values = [float(rng.uniform(0.1, 0.95)), int(10 ** rng.uniform(4, 7)), int(10 ** rng.uniform(6, 9))]
        values[1] = values[1] if i % 7 else 10_000  # ties on one objective
        study.add_trial(optuna.create_trial(values=values))
        front.add(i, values)
        history.append(front.value)
    assert set(front.members) == {t.number for t in study.best_trials}
    points = np.array([normalised(t.values, objectives) for t in study.trials])
    assert history[-1] == pytest.approx(hypervolume(points, np.ones(3)), rel=1e-12)
    assert all(b >= a for a, b in zip(history, history[1:]))


def test_front_keeps_ties_and_drops_dominated_members():
    front = Front(["val_accuracy", "params"])
    assert front.add(0, [0.5, 50_000]) and front.add(1, [0.5, 50_000])  # equal values: both on the front
    assert not front.add(2, [0.4, 80_000])
    assert front.add(3, [0.6, 10_000]) and set(front.members) == {3}
    assert front.value == pytest.approx(0.6 * (1 - math.log10(1e4 / 1e3) / 6))  # params on 1e3..1e9, log
