import numpy as np
import pytest
from scipy import stats
from tables import synthetic_table
from test_evaluators import _Clock

from nas.evaluators.replay import Replay
from nas.pareto.dominance import on_front
from nas.pareto.objectives import losses
from nas.section import Section
from nas.study.record import Status, TrialRecord
from nas.tabular.noise import SeedNoise, draw
from nas.tabular.table_file import Table
from search_spaces import genotype_from_params, get


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("noise") / "t.json"
    synthetic_table(path)
    return Table.load(path)


def _genotype(table, run):
    return genotype_from_params(get("dense_grid"), Section.of(table.space), run.params)


def _replayed(table, run, seed):
    record = TrialRecord(Status.RUNNING)
    Replay(table, _Clock()).train(0, _genotype(table, run), seed, record, None)
    return record


def test_a_replayed_trial_depends_on_its_seed_and_one_seed_replays_it_identically(table):
    once = next(r for r in table.first() if len(table.runs_of(r.genotype_id)) == 1)
    twice = next(r for r in table.first() if len(table.runs_of(r.genotype_id)) == 2)
    for run in (once, twice):
        finals = {_replayed(table, run, seed).metrics["val_accuracy"] for seed in range(12)}
        assert len(finals) > 1  # seeds draw different runs
        a, b = _replayed(table, run, 5), _replayed(table, run, 5)
        assert a.history == b.history and a.metrics == b.metrics
    recorded = {r.final["val_accuracy"] for r in table.runs_of(twice.genotype_id)}
    assert {_replayed(table, twice, s).metrics["val_accuracy"] for s in range(12)} == recorded  # one of its own runs
    seconds = {_replayed(table, once, s).metrics["train_seconds"] for s in range(4)}
    assert len(seconds) == 4  # the seconds are drawn too


def test_without_noise_every_trial_replays_the_first_run(table):
    run = table.first()[40]
    replay = Replay(table, _Clock(), noise=False)
    for seed in range(3):
        record = TrialRecord(Status.RUNNING)
        replay.train(0, _genotype(table, run), seed, record, None)
        assert record.metrics["val_accuracy"] == run.final["val_accuracy"]


def test_the_noise_models_variance_matches_the_pairs_it_was_fitted_on():
    """On the shipped table's 48 repeated genotypes: pairs of drawn runs differ as much as the
    recorded pairs do, epoch by epoch, within the recorded pairs' sampling error."""
    table = Table.load("dense_grid")
    pairs = table.pairs()
    noise = SeedNoise.fit([(a.epochs, b.epochs) for a, b in pairs])
    n = len(pairs)
    assert n == noise.pairs >= 40
    from nas.tabular.card import noise as card_noise
    assert noise.final_sd() == pytest.approx(card_noise(table)["run_sd"], rel=0.02)  # the card's stated SD
    rng = np.random.default_rng(0)
    mean = table.expected()[0].epochs
    drawn = np.array([[noise.apply(mean, rng) for _ in range(2)] for _ in range(4000)])  # (draws, 2, epochs, fields)
    recorded = np.array([[a.epochs, b.epochs] for a, b in pairs])
    for field in (0, 1):  # validation accuracy and loss
        for e in range(table.epochs):
            observed = np.mean((recorded[:, 1, e, field] - recorded[:, 0, e, field]) ** 2)
            simulated = np.var(drawn[:, 1, e, field] - drawn[:, 0, e, field])
            low, high = (n * observed / stats.chi2.ppf(q, n) for q in (0.995, 0.005))
            assert low < simulated < high, (field, e, observed, simulated)
    # the curve's epochs move together, as they do in the recorded pairs
    d = recorded[:, 1, :, 0] - recorded[:, 0, :, 0]
    s = drawn[:, 1, :, 0] - drawn[:, 0, :, 0]
    assert np.corrcoef(s[:, -2], s[:, -1])[0, 1] == pytest.approx(np.mean(d[:, -2] * d[:, -1]) / np.sqrt(
        np.mean(d[:, -2] ** 2) * np.mean(d[:, -1] ** 2)), abs=0.05)


def test_a_draw_keeps_accuracy_a_share_and_losses_positive(table):
    noise = SeedNoise(2, np.eye(6) * 4.0, np.eye(2), 3)  # absurdly wide: every bound is met
    epochs = ((0.99, 0.01, 0.02, 10.0, 1.0), (0.01, 0.02, 0.01, 10.0, 1.0))
    for seed in range(20):
        for row in noise.apply(epochs, np.random.default_rng(seed)):
            assert 0 <= row[0] <= 1 and row[1] > 0 and row[2] > 0 and row[3] > 0


def test_a_run_stopped_early_replays_as_recorded(table):
    import dataclasses
    run = table.first()[100]
    stopped = dataclasses.replace(run, status="chance", epochs=run.epochs[:2])
    noise = SeedNoise.of(table)
    assert draw([stopped], noise, 3, run.genotype_id) is stopped


def test_the_reference_front_is_the_expected_one(table):
    expected = {r.genotype_id: r for r in table.expected()}
    for g in table.genotypes:
        runs = table.runs_of(g)
        assert expected[g].final["val_accuracy"] == pytest.approx(np.mean([r.final["val_accuracy"] for r in runs]))
    objectives = ["val_accuracy", "params", "macs"]
    runs = list(expected.values())
    mask = on_front(np.array([losses([r.final[o] for o in objectives], objectives) for r in runs]))
    assert {r.genotype_id for r in table.front(objectives)} == {r.genotype_id for r, keep in zip(runs, mask) if keep}


def test_too_few_repeats_are_refused():
    with pytest.raises(ValueError, match="at least 3 genotypes trained twice"):
        SeedNoise.fit([])


def test_a_genotype_whose_first_run_stopped_early_is_expected_at_its_complete_run(table):
    import dataclasses
    runs = table.runs_of(table.pairs()[0][0].genotype_id)
    stopped = dataclasses.replace(runs[0], status="chance", epochs=runs[0].epochs[:1])
    other = Table(table.space, table.setup, table.build, (stopped, runs[1]))
    (expected,) = other.expected()
    assert expected == runs[1] and expected.complete
