from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from tables import synthetic_table

import nas
from nas.pareto.dominance import best_trials
from nas.pareto.front import Front
from nas.settings import parse_search
from nas.study.record import Status, TrialRecord
from nas.tabular.quality import found, reference, true_hypervolume
from nas.tabular.table_file import Table
from nas.workers.simulate import run

CONF = str(Path(nas.__file__).parent / "conf")
OBJECTIVES = ["val_accuracy", "params", "macs"]


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("quality") / "grid.json"
    synthetic_table(path, replicas=96)  # half the genotypes trained twice: their mean differs from either run
    return path


def _study(table_path, noise):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="search", overrides=[
            "search_space=dense_grid", "evaluator=table", f"evaluator.table={table_path}", "logger=none",
            "enqueue_baselines=false", "study_name=q", f"objectives=[{','.join(OBJECTIVES)}]", "sampler=random",
            "n_trials=60", "seed=1", f"evaluator.noise={noise}"])
    return run(parse_search(cfg), log=lambda m: None)[0]


def _events(study):
    done = [TrialRecord.of(t) for t in study.get_trials(deepcopy=False)]
    done = sorted((r for r in done if r.status == Status.OK), key=lambda r: r.ended)
    return [(r.ended, r.genotype_id, list(r.values)) for r in done]


def test_the_reference_is_the_expected_front_with_noise_and_the_first_runs_without(table_path):
    table = Table.load(table_path)
    assert reference(table, True) == table.expected() and reference(table, False) == table.first()
    front = Front(OBJECTIVES)
    for r in table.expected():
        front.add(0, [r.final[o] for o in OBJECTIVES])
    assert true_hypervolume(table, OBJECTIVES, True) == pytest.approx(front.value)
    assert true_hypervolume(table, OBJECTIVES, True) != true_hypervolume(table, OBJECTIVES, False)


def test_a_noisy_study_is_measured_by_its_fronts_genotypes_at_their_expected_values(table_path):
    table = Table.load(table_path)
    study = _study(table_path, True)
    points, observed = found(_events(study), table, OBJECTIVES, True)
    expected = {r.genotype_id: r for r in table.expected()}
    mine = Front(OBJECTIVES)  # the study's own front (Optuna's best trials), at the expected values
    for t in best_trials(study.get_trials(deepcopy=False), study.directions):
        mine.add(t.number, [expected[TrialRecord.of(t).genotype_id].final[o] for o in OBJECTIVES])
    assert points[-1][1] == pytest.approx(mine.value)
    best = true_hypervolume(table, OBJECTIVES, True)
    assert all(hv <= best + 1e-12 for _, hv in points)  # regret against the expected front is never negative
    told = Front(OBJECTIVES)
    for t in study.get_trials(deepcopy=False):
        if TrialRecord.of(t).status == Status.OK:
            told.add(t.number, list(t.values))
    assert observed[-1][1] == pytest.approx(told.value) and observed[-1][1] != points[-1][1]


def test_without_noise_what_a_study_found_is_what_it_saw(table_path):
    table = Table.load(table_path)
    points, observed = found(_events(_study(table_path, False)), table, OBJECTIVES, False)
    assert [hv for _, hv in points][-1] == pytest.approx(observed[-1][1])
    assert np.all(np.diff([hv for _, hv in points]) >= -1e-12)  # only noise can take a front's value back
