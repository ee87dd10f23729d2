"""The screen: candidates drawn, scored before training, one trained; the rest recorded for the sampler."""

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from optuna.trial import TrialState
from tables import synthetic_table

import nas
from nas.settings import parse_search
from nas.study.record import Status, TrialRecord
from nas.study.search_settings import Screen
from nas.study.slots import counted
from nas.tabular.table_file import Table
from nas.workers.screen import Candidate, choose, features
from nas.workers.simulate import run

CONF = str(Path(nas.__file__).parent / "conf")
OBJECTIVES = ["val_accuracy", "params", "macs"]


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "grid.json"
    synthetic_table(path, proxies=True)
    return path


def _compose(*extra):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="search", overrides=["logger=none", "study_name=screened", *extra])


def _settings(table_path, *extra):
    return parse_search(_compose("search_space=dense_grid", "evaluator=table", f"evaluator.table={table_path}",
                                 "enqueue_baselines=false", "proxies=[]", f"objectives=[{','.join(OBJECTIVES)}]", *extra))


@pytest.mark.parametrize("extra, message", [
    (["screen=size", "screen.candidates=1"], r"screen.candidates=1: must be a whole number ≥ 2"),
    (["screen=zero_cost", "screen.by=[]"], r"screen=zero_cost needs proxies to rank by"),
    (["screen=zero_cost", "screen.by=[jacob_cov]"], r"screen.by: unknown proxy 'jacob_cov'; choose among synflow"),
    (["screen=zero_cost", "screen.by=5"], r"screen.by=5: give a list of proxies"),
    (["screen=size", "+screen.by=[nn_mass]"], r"screen=size ranks by size alone; for proxies use screen=zero_cost"),
    (["screen=size", "objectives=[val_accuracy,latency_batch1_ms]"],
     r"screen=size: objective latency_batch1_ms is not known before training, and the screen predicts only"),
    (["screen=size", "objectives=[params,macs]"], r"objectives=\[params,macs\] has none: keep one"),
    (["screen=size", "objectives=[val_accuracy,val_loss]"], r"has 2: keep one, or use screen=none"),
    (["screen=size", "+screen.every=2"], r"screen.every is not a setting"),
    (["proxies=[nn_mass,zen]"], r"proxies: unknown proxy 'zen'"),
    (["proxies=nn_mass"], r"proxies=nn_mass: give a list"),
])
def test_bad_screen_settings_are_refused_in_one_line(extra, message):
    with pytest.raises(ValueError, match=message):
        parse_search(_compose(*extra))


def test_the_screen_settings_parse_and_every_proxy_it_ranks_by_is_scored():
    s = parse_search(_compose("screen=zero_cost", "screen.by=[zico,nn_mass]", "proxies=[synflow,nn_mass]"))
    assert s.screen == Screen("zero_cost", 8, ("zico", "nn_mass"))
    assert s.scored == ("synflow", "nn_mass", "zico")
    assert parse_search(_compose()).screen.setup() == {"name": "none"}  # the default: no screen


def _c(trial, params, proxy=None):
    return Candidate(trial, params, params * 100, {"nn_mass": proxy})


def _trained(rng, n=30, proxy_weight=0.0):
    """Completed trials whose accuracy rises with log-size, and with the proxy when ``proxy_weight``."""
    out = []
    for i in range(n):
        params = int(10 ** rng.uniform(4, 6))
        proxy = float(rng.uniform())
        acc = 0.4 + 0.05 * np.log10(params) + proxy_weight * proxy + float(rng.normal(0, 0.002))
        out.append((_c(i, params, proxy), [acc, params, params * 100]))
    return out


def test_the_proxy_screen_trains_the_candidate_its_proxy_predicts_best_where_size_cannot_tell():
    rng = np.random.default_rng(0)
    trained = _trained(rng, proxy_weight=0.2)
    candidates = [_c(100 + i, 50_000, p) for i, p in enumerate((0.1, 0.95, 0.5, 0.3))]  # one size
    by_proxy = choose(Screen("zero_cost", 4, ("nn_mass",)), OBJECTIVES, trained, candidates)
    assert by_proxy.chosen == 1 and by_proxy.gains[1] == max(by_proxy.gains) > 0
    by_size = choose(Screen("size", 4), OBJECTIVES, trained, candidates)
    assert by_size.gains == pytest.approx([by_size.gains[0]] * 4)  # equal sizes: nothing to choose by
    assert by_size.chosen == 0  # so the sampler's own draw trains


def test_a_candidate_beyond_the_front_beats_one_inside_it():
    rng = np.random.default_rng(1)
    trained = _trained(rng)
    smallest = min(c.params for c, _ in trained)
    inside, beyond = _c(100, 300_000), _c(101, smallest // 3)  # mid-size (dominated, likely) and smaller than all
    choice = choose(Screen("size", 2), OBJECTIVES, trained, [inside, beyond])
    assert choice.chosen == 1 and choice.gains[1] > 10 * choice.gains[0]


def test_no_expected_gain_leaves_the_sampler_its_draw():
    trained = _trained(np.random.default_rng(2)) + [(_c(99, 1000), [1.0, 1000, 100_000])]  # dominates any larger
    choice = choose(Screen("size", 3), OBJECTIVES, trained, [_c(10, 10_000), _c(11, 20_000), _c(12, 40_000)])
    assert choice.chosen == 0 and max(choice.gains) == 0 and "no candidate" in choice.reason


def test_features_rank_proxies_and_flag_missing_ones():
    pool = [_c(0, 1000, 5.0), _c(1, 100, None), _c(2, 10, 1e30), _c(3, 10_000, -2.0)]
    x = features(Screen("zero_cost", 2, ("nn_mass",)), pool)
    assert x[:, 0].tolist() == [3, 2, 1, 4]  # log10 params
    assert x[:, 2].tolist() == [0.5, 0.5, 1.0, 0.0]  # ranks in [0, 1]; the missing one in the middle
    assert x[:, 3].tolist() == [0, 1, 0, 0]  # and flagged


def test_a_screened_study_records_its_candidates_and_counts_only_what_it_trains(table_path):
    settings = _settings(table_path, "screen=zero_cost", "screen.candidates=4", "screen.by=[nn_mass]", "n_trials=30")
    study, clock = run(settings, log=lambda m: None)
    trials = study.get_trials(deepcopy=False)
    records = {t.number: TrialRecord.of(t) for t in trials}
    assert len(counted(trials)) == 30
    screened = [r for r in records.values() if r.status == Status.SCREENED]
    assert screened and all(r.state == TrialState.PRUNED for r in screened)  # the sampler sees them, as pruned
    assert not {r.number for r in screened} & {t.number for t in counted(trials)}
    chosen = [r for r in records.values() if r.screen]
    assert len(chosen) >= 30 - settings.screen.min_trained - 1
    for r in chosen:
        numbers = [c["trial"] for c in r.screen["candidates"]]
        assert r.number in numbers and len(numbers) <= 4
        gains = {c["trial"]: c["expected_gain"] for c in r.screen["candidates"]}
        for n in numbers:
            other = records[n]
            assert other.genotype_id and other.metrics["params"] > 0 and "nn_mass" in other.proxies
            if n != r.number:
                assert other.status == Status.SCREENED and f"for trial {r.number}" in other.reason
                assert gains[n] <= gains[r.number] or gains[r.number] == 0
    # before the fit has its trials, the sampler's draws train unscreened
    first = sorted(records.values(), key=lambda r: r.number)[:settings.screen.min_trained]
    assert all(r.status == Status.OK and not r.screen for r in first)
    # every score is the table's, and its seconds passed on the clock: 0.5 s per candidate scored
    table = Table.load(table_path)
    scored = [r for r in records.values() if r.proxies]
    assert all(r.proxies["nn_mass"] == table.proxies[r.genotype_id]["nn_mass"] for r in scored)
    trained = [r for r in records.values() if r.status == Status.OK]
    assert all(r.trial_seconds >= sum(h["seconds"] for h in r.history) for r in trained)
    assert clock.now() >= sum(sum(h["seconds"] + h["judge_seconds"] for h in r.history) for r in trained) \
        + 0.5 * len(scored)


def test_a_screen_that_ranks_by_proxies_needs_a_table_that_has_them(tmp_path):
    path = tmp_path / "plain.json"
    synthetic_table(path)
    with pytest.raises(ValueError, match=r"ranks by nn_mass, which it has no scores of \(none\)"):
        run(_settings(path, "screen=zero_cost", "n_trials=5"), log=lambda m: None)
    study, _ = run(_settings(path, "proxies=[nn_mass]", "n_trials=3"), log=lambda m: None)  # recorded as missing
    for r in map(TrialRecord.of, study.trials):
        assert r.proxies == {"nn_mass": {"value": None, "seconds": 0.0, "reason": "not in the table's proxy scores"}}


def test_a_study_over_an_enumerable_space_stops_once_every_genotype_is_taken(table_path):
    study, _ = run(_settings(table_path, "sampler=random", "n_trials=5000", "max_params=285000"), log=lambda m: None)
    records = [TrialRecord.of(t) for t in study.trials]
    trained = {r.genotype_id for r in records if r.status == Status.OK}
    infeasible = {r.genotype_id for r in records if r.status == Status.INFEASIBLE}
    assert trained and infeasible and len(trained | infeasible) == 192  # all of dense_grid, each once
    assert len(records) < 5000


def test_a_worker_stopped_while_screening_leaves_no_candidate_running_or_counted(table_path):
    import optuna

    from nas.evaluators.clock import SimulatedClock
    from nas.evaluators.replay import Replay
    from nas.study.record import TrialRecord as Record
    from nas.workers.trial import screened
    from nas.workers.worker import open_worker_study

    settings = _settings(table_path, "screen=size", "screen.candidates=3", "n_trials=10")
    storage = optuna.storages.InMemoryStorage()
    study = open_worker_study(storage, settings, {"data": "folder"}, log=lambda m: None)

    class Interrupted(Replay):  # Ctrl-C arrives while the second candidate is measured
        calls = 0

        def size(self, genotype):
            Interrupted.calls += 1
            if Interrupted.calls == 2:
                raise KeyboardInterrupt
            return super().size(genotype)

    first = study.ask()
    with pytest.raises(KeyboardInterrupt):
        screened(study, storage, first, Record(Status.RUNNING), settings, Interrupted(Table.load(table_path),
                                                                                      SimulatedClock()))
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 2 and all(t.state == TrialState.PRUNED for t in trials)
    assert all(TrialRecord.of(t).status == Status.SCREENED for t in trials) and not counted(trials)
    assert TrialRecord.of(trials[1]).reason == "the worker stopped while screening"
