"""Each objective defined once: directions, fixed ranges, the checks of a list of objectives."""

import pytest

from nas.pareto.objectives import OBJECTIVES, check_objectives, directions, normalised, plain


def test_objectives_have_directions_and_are_checked():
    assert directions(["val_accuracy", "params"]) == ["maximize", "minimize"]
    assert plain("params", 12.0) == 12 and isinstance(plain("params", 12.0), int) and plain("val_loss", 0.5) == 0.5
    assert all(o.scale in ("accuracy", "linear", "log") and o.bounds[0] < o.bounds[1] for o in OBJECTIVES.values())
    with pytest.raises(ValueError, match="unknown objective 'latency'"):
        check_objectives(["val_accuracy", "latency"])
    with pytest.raises(ValueError, match="objectives is empty"):
        check_objectives([])


def test_normalised_maps_fixed_ranges_to_unit_losses():
    objectives = ["val_accuracy", "params", "images_per_second", "val_loss"]
    x = normalised([0.75, 1e6, 1e3, 3.5], objectives)
    assert x == pytest.approx([0.25, 0.5, 1 - 3 / 7, 0.5])  # error; log 1e3..1e9; maximised log 1..1e7; 0..7 nats
