"""A study's own verdict on its proxies: rank correlation with accuracy, and beyond size."""

import numpy as np
import optuna
import pytest
from conftest import small_genotype
from scipy import stats

from nas.analysis.html_report import build
from nas.analysis.proxy_ranking import partial_spearman, proxy_ranking
from nas.pareto.objectives import directions
from nas.study.record import STUDY_OBJECTIVES, Status, TrialRecord

OBJECTIVES = ["val_accuracy", "params"]


def _records(n=40, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        params = int(10 ** rng.uniform(4, 6))
        residual = float(rng.normal(0, 0.02))
        acc = 0.3 + 0.05 * np.log10(params) + residual
        proxies = {"knows": {"value": residual, "seconds": 0.1, "reason": ""},  # what size does not know, only
                   "noise": {"value": float(rng.normal()), "seconds": 0.2, "reason": ""},
                   "rare": {"value": 1.0 if i < 5 else None, "seconds": 0.0, "reason": "" if i < 5 else "n/a"}}
        out.append(TrialRecord(Status.OK, genotype_name=f"g{i}", genotype_id=f"g{i}", number=i, proxies=proxies,
                               metrics={"val_accuracy": acc, "params": params, "macs": params * 90}))
    return out


def test_a_proxy_that_knows_what_size_does_not_shows_it_in_the_partial_correlation():
    rows = {r["proxy"]: r for r in proxy_ranking(_records())}
    assert set(rows) == {"params", "knows", "noise"}  # "rare": 5 trials say nothing
    assert rows["params"]["rho"] > 0.7 and rows["params"]["partial_rho"] is None
    assert rows["knows"]["partial_rho"] > 0.9 > rows["knows"]["rho"]  # size hides it in the plain ρ
    assert abs(rows["noise"]["partial_rho"]) < 0.4 and rows["noise"]["seconds"] == 0.2


def test_partial_spearman_is_spearman_under_a_constant_control():
    x = np.array([3.0, 1, 4, 1.5, 5, 9, 2, 6])
    y = np.array([2.0, 7, 1, 8, 2.5, 8.5, 2.8, 1.8])
    assert partial_spearman(x, y, np.ones(8)) == pytest.approx(stats.spearmanr(x, y).statistic)


def test_the_study_report_shows_the_proxies_ranking(tmp_path):
    study = optuna.create_study(directions=directions(OBJECTIVES))
    study.set_user_attr(STUDY_OBJECTIVES, OBJECTIVES)
    for r in _records(12):
        trial = study.ask()
        r.genotype = small_genotype().to_dict()
        r.save(trial)
        study.tell(trial, [r.metrics[o] for o in OBJECTIVES])
    text = build(study, tmp_path).read_text()
    assert "<h2>Zero-cost proxies on this study</h2>" in text and "<td>knows</td>" in text
