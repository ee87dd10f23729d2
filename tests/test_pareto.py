import numpy as np
import pytest

from nas.pareto import hypervolume, hypervolume_history, normalised_losses, plot, plot_hypervolume


def test_hypervolume_of_known_fronts():
    ref = np.array([1.0, 1.0])
    assert hypervolume(np.array([[0.5, 0.5]]), ref) == pytest.approx(0.25)
    # two boxes overlapping in [0.5,1]×[0.5,1]: 0.5·0.75 + 0.75·0.5 − 0.5·0.5
    assert hypervolume(np.array([[0.5, 0.25], [0.25, 0.5]]), ref) == pytest.approx(0.5)
    assert hypervolume(np.array([[0.5, 0.25], [0.25, 0.5], [0.6, 0.6]]), ref) == pytest.approx(0.5)  # dominated
    assert hypervolume(np.array([[0.5, 0.5, 0.5]]), np.ones(3)) == pytest.approx(0.125)
    assert hypervolume(np.array([[2.0, 0.1]]), ref) == 0.0  # outside the reference box


def test_hypervolume_history_never_decreases():
    rows = [{"val_accuracy": a, "params": p} for a, p in [(0.5, 100), (0.4, 50), (0.45, 200), (0.7, 80)]]
    history = hypervolume_history(rows, ["val_accuracy", "params"])
    assert all(b >= a for a, b in zip(history, history[1:])) and history[2] == history[1]
    losses = normalised_losses(rows, ["val_accuracy", "params"])
    assert losses[0].tolist() == pytest.approx([0.5, 0.5])


def test_plots_are_written(tmp_path):
    rows = [{"trial": i, "name": f"g{i}", "val_accuracy": a, "params": p, "macs": 10 * p, "baseline": b}
            for i, (a, p, b) in enumerate([(0.5, 100, "densenet_bc40_k12"), (0.4, 50, ""), (0.6, 300, "")])]
    paths = plot(rows, {0, 1, 2}, tmp_path)
    assert [p.name for p in paths] == ["pareto.png", "pareto_params.html", "pareto_macs.html"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG"
    html = paths[1].read_text()
    assert "densenet_bc40_k12" in html and "g1" in html and "plotly" in html.lower()
    assert plot_hypervolume([0.1, 0.2, 0.2], [0, 1, 2], tmp_path).read_bytes()[:4] == b"\x89PNG"
