import dataclasses
import gzip
import json
import random

import numpy as np
import pytest
from scipy.stats import spearmanr
from tables import connectivity_table

from nas.tabular.surrogate_model import Surrogate, fit, training_rows
from nas.tabular.table_file import Table


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    path = tmp_path_factory.mktemp("surrogate") / "s.json.gz"
    table = connectivity_table(path.with_name("data.json"))
    surrogate = fit(table, ensemble=2, seed=3)
    surrogate.save(path)
    return table, surrogate, path


def test_on_the_real_table_it_ranks_held_out_genotypes_better_than_their_size_does():
    """The NAS-Bench-301 check in small: fitted on 40% of dense_grid, it ranks the other 60% at their
    mean final accuracy better than the parameter count does (ρ 0.86 there)."""
    table = Table.load("dense_grid")
    expected = {r.genotype_id: r for r in table.expected()}
    train = set(random.Random(0).sample(sorted(expected), round(0.4 * len(expected))))
    surrogate = fit(table, genotype_ids=sorted(train), ensemble=2)
    test = [r for g, r in expected.items() if g not in train]
    predicted = [surrogate.run(surrogate.genotype(r.params), r.n_params, r.macs).epochs[-1][0] for r in test]
    truth = [r.epochs[-1][0] for r in test]
    by_size = spearmanr([r.n_params for r in test], truth).statistic
    assert spearmanr(predicted, truth).statistic > max(0.85, by_size + 0.03)
    assert surrogate.build["genotypes"] == len(train) and surrogate.noise is not None  # its repeats' noise


def test_a_run_is_the_expected_run_of_any_genotype_with_its_counted_size(fitted):
    table, surrogate, _ = fitted
    r = table.runs[0]
    run = surrogate.run(surrogate.genotype(r.params), r.n_params, r.macs)
    assert (run.genotype_id, run.status) == (r.genotype_id, "ok")
    assert len(run.epochs) == surrogate.epochs == 3
    for accuracy, val_loss, train_loss, seconds, judge in run.epochs:
        assert 0 <= accuracy <= 1 and val_loss > 0 and train_loss > 0 and seconds > 0 and judge > 0
    assert run.overhead > 0 and run.latency_batch1_ms is None  # the data had no latency: none is made up
    assert run.epochs[-1][0] == pytest.approx(r.epochs[-1][0], abs=0.03)  # a training genotype: near its runs


def test_the_file_gives_back_the_same_predictions(fitted):
    table, surrogate, path = fitted
    loaded = Surrogate.load(path)
    assert (loaded.space, loaded.setup, loaded.build) == (surrogate.space, surrogate.setup, surrogate.build)
    r = table.runs[5]
    g = surrogate.genotype(r.params)
    assert loaded.run(g, r.n_params, r.macs) == surrogate.run(g, r.n_params, r.macs)
    np.testing.assert_array_equal(loaded.noise.curve_cov, surrogate.noise.curve_cov)


def _rewrite(path, out, change):
    with gzip.open(path, "rt") as f:
        doc = json.load(f)
    change(doc)
    with gzip.open(out, "wt") as f:
        json.dump(doc, f)
    return out


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(format=99), "format 99 of kind 'surrogate', this version reads surrogate format 1"),
    (lambda d: d["features"].update(version=0), "features version 0, this version computes version 2"),
    (lambda d: d["models"].pop("seconds"), "no model of seconds"),
    (lambda d: d["models"].update(val_loss=["tree\nnot a model"]), "Model file doesn't specify"),
    (lambda d: d.update(features=[]), "'list' object has no attribute 'get'"),
])
def test_a_file_this_version_cannot_read_is_refused_in_one_line(fitted, tmp_path, change, message):
    _, _, path = fitted
    bad = _rewrite(path, tmp_path / "bad.json.gz", change)
    with pytest.raises(ValueError, match="not a surrogate this version reads") as caught:
        Surrogate.load(bad)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_table_file_or_a_missing_file_is_not_a_surrogate(tmp_path):
    with pytest.raises(ValueError, match="not a surrogate this version reads .*Not a gzipped file"):
        Surrogate.load(connectivity_table(tmp_path / "plain.json", genotypes=12) and tmp_path / "plain.json")
    with pytest.raises(ValueError, match="no such surrogate; use a shipped one"):
        Surrogate.load(tmp_path / "absent.json.gz")


def test_a_diverged_runs_infinite_loss_is_left_out_of_its_target(tmp_path):
    table = connectivity_table(tmp_path / "d.json", genotypes=20)
    broken = dataclasses.replace(table.runs[0], status="diverged",
                                 epochs=(table.runs[0].epochs[0][:1] + (float("inf"),) + table.runs[0].epochs[0][2:],))
    table = dataclasses.replace(table, runs=(broken, *table.runs[1:]))
    rows = training_rows(table.space, list(table.runs))
    assert len(rows["val_loss"][1]) == len(rows["val_accuracy"][1]) - 1 and np.isfinite(rows["val_loss"][1]).all()
    surrogate = fit(table, ensemble=1)
    r = table.runs[3]
    assert 0 < surrogate.run(surrogate.genotype(r.params), r.n_params, r.macs).epochs[-1][1] < 3


def test_a_share_of_the_whole_space_keeps_its_bounds_and_a_sample_of_a_space_has_its_own():
    table = Table.load("dense_grid")
    part = fit(table, genotype_ids=sorted(table.genotypes)[:20], ensemble=1)
    assert part.build["bounds"] == {"params": max(r.n_params for r in table.runs),
                                    "macs": max(r.macs for r in table.runs), "whole_space": True}


def test_too_few_genotypes_are_refused(tmp_path):
    table = connectivity_table(tmp_path / "small.json", genotypes=9, replicas=0)
    with pytest.raises(ValueError, match="9 genotypes to fit on; a surrogate needs at least 10"):
        fit(table)
