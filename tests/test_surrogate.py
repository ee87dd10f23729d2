import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from hydra import compose, initialize_config_dir
from tables import connectivity_table

import nas
import search_spaces
from nas.evaluators.clock import SimulatedClock
from nas.evaluators.surrogate import SurrogateReplay
from nas.genotype import GenotypeError
from nas.section import Section
from nas.settings import parse_search
from nas.study.record import Status, TrialRecord
from nas.tabular.noise import draw
from nas.tabular.surrogate_model import Surrogate, fit
from nas.training.metrics import count
from nas.training.zero_cost import nn_mass
from nas.workers.simulate import run

CONF = str(Path(nas.__file__).parent / "conf")


@pytest.fixture(scope="module")
def surrogate_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("surrogate") / "dense_connectivity.json.gz"
    fit(connectivity_table(path.with_name("data.json")), ensemble=2).save(path)
    return path


def _settings(path, *extra, caps=True):
    """A study on the surrogate at ``path``, within the size bounds of its data (``caps``)."""
    bounds = Surrogate.load(path).build["bounds"]
    within = [f"max_params={bounds['params']}", f"max_macs={bounds['macs']}"] if caps else []
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="search", overrides=[
            "search_space=dense_connectivity", "evaluator=surrogate", f"evaluator.surrogate={path}", "logger=none",
            "study_name=sur", *within, *extra])
    return parse_search(cfg)


def test_every_genotype_of_the_space_gets_a_run_and_its_exact_size(surrogate_path):
    surrogate = Surrogate.load(surrogate_path)
    replay = SurrogateReplay(surrogate, SimulatedClock())
    space, cfg = search_spaces.get("dense_connectivity"), Section.of(surrogate.space)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=5))
    grid = {"growth": cfg.growth, "growth_schedule": cfg.growth_schedule}
    corners = []  # the smallest and the largest choice of every parameter, and random draws between
    for pick in (min, max):
        params = {k: pick(v) for k, v in grid.items()} | {"compression": pick(cfg.compression)}
        for i in (1, 2, 3):
            params |= {f"block{i}.layers": pick(cfg.layers), f"block{i}.pattern": "full",
                       f"block{i}.bottleneck": pick(cfg.bottleneck, key=lambda b: b or 0),
                       f"block{i}.conv": "standard"}
        corners.append(search_spaces.genotype_from_params(space, cfg, params))
    for _ in range(40):
        trial = study.ask()
        corners.append(space.suggest(trial, cfg))
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    for genotype in corners:
        n_params, macs = replay.size(genotype)
        assert (n_params, macs) == count(genotype, num_classes=10, in_channels=3, image_size=(16, 16))[1:]
        run_ = replay.runs_of(genotype)[0]
        assert run_.complete and len(run_.epochs) == 3 and np.isfinite(run_.epochs).all()
        assert 0 <= run_.final["val_accuracy"] <= 1 and all(e[3] > 0 for e in run_.epochs)


def test_a_genotype_the_images_are_too_small_for_is_refused_as_a_trained_trial_would_be(surrogate_path):
    surrogate = Surrogate.load(surrogate_path)
    replay = SurrogateReplay(surrogate, SimulatedClock())
    from nas.genotype import Block, Genotype, Stem, Transition

    deep = Genotype(Stem("cifar", 16), tuple(Block(4, 8) for _ in range(6)), (Transition(0.5),) * 5)
    with pytest.raises(GenotypeError, match="needs images of at least 32×32, not 16×16"):
        replay.size(deep)


def test_a_trial_draws_its_run_at_its_seed_about_the_predicted_run(surrogate_path):
    surrogate = Surrogate.load(surrogate_path)
    replay = SurrogateReplay(surrogate, SimulatedClock())
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    genotype = search_spaces.get("dense_connectivity").suggest(study.ask(), Section.of(surrogate.space))
    expected = replay.runs_of(genotype)[0]
    assert replay.run_of(genotype, 7) == replay.run_of(genotype, 7) == draw([expected], surrogate.noise, 7, genotype.id)
    finals = [replay.run_of(genotype, s).final["val_accuracy"] for s in range(200)]
    assert len(set(finals)) == 200 and abs(np.mean(finals) - expected.final["val_accuracy"]) < 0.01
    assert np.std(finals) == pytest.approx(surrogate.noise.final_sd(), rel=0.25)
    quiet = SurrogateReplay(surrogate, SimulatedClock(), noise=False)
    assert quiet.run_of(genotype, 7) == expected


@pytest.fixture(scope="module")
def asha_study(surrogate_path):
    return run(_settings(surrogate_path, "scheduler=asha", "n_trials=200", "evaluator.workers=4", "train.epochs=3"),
               log=lambda m: None)


def test_a_200_trial_4_worker_asha_study_runs_and_no_decision_sees_its_future(asha_study):
    study, clock = asha_study
    records = [TrialRecord.of(t) for t in study.get_trials(deepcopy=False)]
    assert len(records) == 200 and len({r.worker.split("@")[0] for r in records}) == 4
    assert {Status.OK, Status.STOPPED} <= {r.status for r in records}
    rungs = {(r.number, g["bracket"], g["epoch"]): g for r in records for g in r.rungs}
    decided = [g for g in rungs.values() if "inherited_from" not in g]
    assert len(decided) > 100
    for (n, bracket, epoch), rung in rungs.items():
        for s in rung["seen"]:  # every result a decision read had been reported by then
            assert rungs[(s, bracket, epoch)]["at"] <= rung["at"]
    started = [r.ended - r.trial_seconds for r in sorted(records, key=lambda r: r.number) if r.trial_seconds]
    assert started == sorted(started)  # trials are asked in the order of the simulated clock
    assert max(r.ended for r in records) <= clock.now()


def test_nn_mass_is_scored_from_the_genotype_and_the_other_proxies_are_not_made_up(surrogate_path):
    study, _ = run(_settings(surrogate_path, "n_trials=20", "screen=zero_cost", "screen.by=[nn_mass]",
                             "proxies=[nn_mass,synflow]"), log=lambda m: None)
    records = [TrialRecord.of(t) for t in study.get_trials(deepcopy=False)]
    surrogate = Surrogate.load(surrogate_path)
    scored = 0
    for r in (r for r in records if r.proxies):
        genotype = surrogate.genotype(next(t for t in study.trials if t.number == r.number).params)
        assert r.proxies["synflow"] == {"value": None, "seconds": 0.0, "reason": "a surrogate scores only nn_mass"}
        if r.proxies["nn_mass"]["value"] is not None:
            assert r.proxies["nn_mass"]["value"] == nn_mass(genotype)
            scored += 1
    assert scored > 5
    with pytest.raises(ValueError, match="ranks by synflow, which it has no scores of \\(nn_mass\\)"):
        run(_settings(surrogate_path, "n_trials=5", "screen=zero_cost", "screen.by=[synflow]"), log=lambda m: None)


@pytest.mark.parametrize("extra, message", [
    (["search_space.growth=[8,12]"], "it covers search_space=dense_connectivity with search_space.growth="),
    (["objectives=[val_accuracy,latency_batch1_ms]"], "evaluator=surrogate: it has no latency_batch1_ms"),
    (["prune_threshold=0.5"], "prune_threshold needs the connection strengths"),
    (["evaluator.workers=0"], "evaluator.workers=0"),
])
def test_a_study_the_surrogate_cannot_replay_is_refused_in_one_line(surrogate_path, extra, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")) as caught:
        run(_settings(surrogate_path, "n_trials=5", *extra), log=lambda m: None)
    assert "\n" not in str(caught.value)


def test_a_study_that_could_leave_the_size_its_data_covers_is_refused(surrogate_path):
    bounds = Surrogate.load(surrogate_path).build["bounds"]
    assert not bounds["whole_space"]  # random draws of dense_connectivity: not the whole space
    for extra in ([], [f"max_params={bounds['params']}"], [f"max_params={bounds['params']}",
                                                            f"max_macs={bounds['macs'] + 1}"]):
        with pytest.raises(ValueError, match=f"its data holds genotypes of at most {bounds['params']:,} parameters "
                                             f"and {bounds['macs']:,} multiply-adds, and beyond them it would "
                                             f"extrapolate; set max_params={bounds['params']}"):
            run(_settings(surrogate_path, "n_trials=5", *extra, caps=False), log=lambda m: None)


def test_the_command_refuses_another_space_and_a_file_that_is_no_surrogate_in_one_line(surrogate_path, tmp_path):
    def search(*extra):
        return subprocess.run([sys.executable, "-m", "nas.search", "evaluator=surrogate", "logger=none", "n_trials=3",
                               f"hydra.run.dir={tmp_path / 'hydra'}", *extra],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)

    other = search("search_space=dense_grid", f"evaluator.surrogate={surrogate_path}")
    assert other.returncode != 0 and other.stderr.strip().splitlines()[-1] == (
        "error: evaluator=surrogate: it covers search_space=dense_connectivity with search_space.name="
        "'dense_connectivity', not 'dense_grid'; search that space (search_space=dense_connectivity with its "
        "defaults) or fit a surrogate of yours (python -m nas.table fit)")
    (tmp_path / "junk.json.gz").write_text("{}")
    junk = search(f"evaluator.surrogate={tmp_path / 'junk.json.gz'}")
    assert junk.returncode != 0 and "junk.json.gz: not a surrogate this version reads" in junk.stderr.splitlines()[-1]
