import json
import re
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import torch
from datasets import write_folder
from hydra import compose, initialize_config_dir
from optuna.trial import TrialState
from searching import search

import nas
from nas.genotype import Genotype
from nas.study.record import Status, TrialRecord
from nas.study.slots import counted

CONF = str(Path(nas.__file__).parent / "conf")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("data") / "ds", n_per_class=16, classes=3, size=8)


def _cfg(folder, tmp_path, *extra):
    overrides = [
        "data=folder", f"data.root={folder}", f"data.cache_dir={tmp_path / 'cache'}", "data.val_size=12",
        "train=smoke", "train.batch_size=16", "train.progress=false", "device=cpu", "study_name=s",
        f"storage.url=sqlite:///{tmp_path / 'study.db'}", "search_space.layers=[2,4]", "search_space.growth=[4,8]",
        "n_trials=3", "logger=none", *extra,
    ]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="search", overrides=overrides)


def _study(tmp_path):
    return optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}")


def test_search_runs_stores_and_writes_outputs(folder, tmp_path):
    out = tmp_path / "out"
    result = search(_cfg(folder, tmp_path), out, log=lambda m: None)
    assert result["study_name"] == "s" and result["n_complete"] + result["n_duplicate"] == 3
    assert result["pareto"] and all({"trial", "val_accuracy", "params", "macs"} <= set(p) for p in result["pareto"])
    trials = _study(tmp_path).get_trials()
    for r in map(TrialRecord.of, trials):
        g = Genotype.from_dict(r.genotype)
        assert g.id == r.genotype_id
        if r.state == TrialState.COMPLETE:
            assert r.values[1] == r.metrics["params"] and 0 <= r.metrics["val_accuracy"] <= 1
            assert r.history and r.status == Status.OK
    rows = (out / "trials.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("trial,state,status")
    front = list((out / "pareto").glob("*.yaml"))
    assert len(front) == len(result["pareto"]) == len((out / "pareto.csv").read_text().splitlines()) - 1
    assert all(Genotype.load(p) for p in front)
    for name in ("pareto.png", "pareto_params.html", "pareto_macs.html", "hypervolume.png", "hypervolume.csv"):
        assert (out / name).is_file(), name
    complete = [TrialRecord.of(t) for t in trials if t.state == TrialState.COMPLETE]
    front = {p["trial"] for p in result["pareto"]}
    for r in complete:  # connection strengths of every trained trial stored; those of the front drawn
        assert len(r.heatmaps) == 3 + sum(b["pattern"] == "clique" for b in r.genotype["blocks"])
        assert r.number not in front or (out / "heatmaps" / f"trial{r.number:04d}-{r.genotype_id}.png").is_file()
    assert result["hypervolume"] > 0
    assert _study(tmp_path).metric_names == ["val_accuracy", "params", "macs"]  # for optuna-dashboard and plots
    from nas.training.zero_cost import NAMES
    for r in complete:  # every trained trial scored by every proxy before training, each timed
        assert list(r.proxies) == list(NAMES) and all(p["seconds"] >= 0 for p in r.proxies.values())
        clique = any(b["pattern"] == "clique" for b in r.genotype["blocks"])
        assert r.proxies["synflow"]["value"] > 0 and (r.proxies["nn_mass"]["value"] is None) == clique
    assert "proxy:naswot" in rows[0]


def test_a_screened_search_trains_one_candidate_per_trial_and_records_the_others(folder, tmp_path):
    out = tmp_path / "out"
    result = search(_cfg(folder, tmp_path, "screen=zero_cost", "screen.by=[synflow]", "screen.candidates=2",
                         "proxies=[]", "n_trials=8", "enqueue_baselines=false"), out, log=lambda m: None)
    trials = _study(tmp_path).get_trials()
    assert len(counted(trials)) == 8 and result["n_complete"] + result["n_duplicate"] == 8
    assert not [t for t in trials if t.state == TrialState.RUNNING]  # no candidate left running
    records = {t.number: TrialRecord.of(t) for t in trials}
    chosen = [r for r in records.values() if r.screen]
    assert chosen  # after the 7 trials the fit needs, every trial is screened
    for r in chosen:
        assert r.proxies["synflow"]["value"] > 0  # scored for real, before training
        for c in r.screen["candidates"]:
            other = records[c["trial"]]
            assert other.proxies["synflow"]["value"] > 0 and c["expected_gain"] >= 0
            assert other.number == r.number or (other.status == Status.SCREENED and other.state == TrialState.PRUNED)
    statuses = [row.split(",")[2] for row in (out / "trials.csv").read_text().splitlines()[1:]]
    assert statuses.count("screened") == sum(r.status == Status.SCREENED for r in records.values()) > 0


def test_a_resume_keeps_the_screen_or_refuses_a_change(folder, tmp_path):
    search(_cfg(folder, tmp_path, "screen=size", "screen.candidates=2", "n_trials=1", "proxies=[]"), tmp_path / "o",
           log=lambda m: None)
    for extra, setting in ((["screen=none"], "screen=size"), (["screen=size", "screen.candidates=3"], "screen.candidates=2"),
                           (["screen=zero_cost", "screen.candidates=2"], "screen=size")):
        with pytest.raises(ValueError, match=rf"was run with screen\..* resume it with {setting}, or start a new study"):
            search(_cfg(folder, tmp_path, *extra, "n_trials=2", "proxies=[]"), tmp_path / "o", log=lambda m: None)
    result = search(_cfg(folder, tmp_path, "screen=size", "screen.candidates=2", "n_trials=2", "proxies=[]"),
                    tmp_path / "o", log=lambda m: None)
    assert result["n_complete"] + result["n_duplicate"] == 2


def test_resume_counts_the_study_total(folder, tmp_path):
    search(_cfg(folder, tmp_path, "n_trials=2"), tmp_path / "out", log=lambda m: None)
    assert len(_study(tmp_path).trials) == 2
    search(_cfg(folder, tmp_path, "n_trials=4"), tmp_path / "out", log=lambda m: None)
    assert len(_study(tmp_path).trials) == 4
    said = []
    result = search(_cfg(folder, tmp_path, "n_trials=4"), tmp_path / "out", log=said.append)
    assert len(_study(tmp_path).trials) == 4 and any("nothing to do" in m for m in said)
    assert result["n_complete"] + result["n_duplicate"] + result["n_failed"] == 4


def test_a_worker_past_its_timeout_starts_no_trial_and_a_rerun_goes_on(folder, tmp_path):
    said = []
    search(_cfg(folder, tmp_path, "n_trials=3", "timeout=0.001"), tmp_path / "out", log=said.append)
    assert len(_study(tmp_path).trials) == 0 and any("timeout=0.001 s reached" in m for m in said)
    search(_cfg(folder, tmp_path, "n_trials=3"), tmp_path / "out", log=lambda m: None)
    assert [t.state for t in _study(tmp_path).trials] == [TrialState.COMPLETE] * 3


def test_a_trial_left_running_without_a_heartbeat_is_failed_and_run_again(folder, tmp_path):
    fast = ["storage.heartbeat_interval=1", "storage.grace_period=2"]
    search(_cfg(folder, tmp_path, "n_trials=1", *fast), tmp_path / "out", log=lambda m: None)
    study = _study(tmp_path)
    stale = study.ask({"growth": optuna.distributions.CategoricalDistribution([4, 8])})  # a worker died here
    time.sleep(2.5)
    said = []
    result = search(_cfg(folder, tmp_path, "n_trials=3", *fast), tmp_path / "out", log=said.append)
    trials = _study(tmp_path).get_trials()
    assert trials[stale.number].state == TrialState.FAIL
    assert any(f"trial {stale.number}: its worker" in m for m in said)
    retry = trials[stale.number + 1]
    assert retry.system_attrs["failed_trial"] == stale.number and retry.params["growth"] == stale.params["growth"]
    assert len(counted(trials)) == 3 and result["n_interrupted"] == 1  # n_trials met exactly, the dead one not counted
    row = (tmp_path / "out" / "trials.csv").read_text().splitlines()[1 + stale.number]
    assert ",interrupted," in row and f"run again as trial {retry.number}" in row


def test_constraints_are_checked_before_training(folder, tmp_path):
    result = search(_cfg(folder, tmp_path, "max_params=1000", "n_trials=4"), tmp_path / "out", log=lambda m: None)
    trials = _study(tmp_path).trials
    records = [TrialRecord.of(t) for t in trials]
    infeasible = [r for r in records if r.status == Status.INFEASIBLE]
    assert infeasible and result["n_infeasible"] == len(infeasible)
    for r in infeasible:
        assert r.state == TrialState.PRUNED and "max_params" in r.reason and r.metrics["params"] > 1000
        assert "val_accuracy" not in r.metrics and not r.history  # never trained
    assert all(r.metrics["params"] <= 1000 for r in records if r.history)


def test_constraints_no_genotype_can_meet_are_refused_before_any_trial(folder, tmp_path):
    with pytest.raises(ValueError, match=r"max_params=900: no genotype .* smallest found, .* has 991 params"):
        search(_cfg(folder, tmp_path, "max_params=900"), tmp_path / "out", log=lambda m: None)
    assert not (tmp_path / "study.db").exists() and not (tmp_path / "out").exists()  # no study was made


def test_duplicate_genotypes_are_not_trained_again(folder, tmp_path):
    one = ["search_space.layers=[2,2]", "search_space.growth=[4]", "search_space.growth_schedule=[constant]",
           "search_space.patterns=[full]", "search_space.bottleneck=[null]", "search_space.conv=[standard]",
           "search_space.compression=[0.5]"]
    result = search(_cfg(folder, tmp_path, *one), tmp_path / "out", log=lambda m: None)
    assert result["n_complete"] == 1 and result["n_duplicate"] == 2
    dups = [r for r in map(TrialRecord.of, _study(tmp_path).trials) if r.status == Status.DUPLICATE]
    assert len(dups) == 2 and all("same genotype as trial 0" in r.reason for r in dups)


def test_baselines_are_enqueued_first(folder, tmp_path):
    cfg = _cfg(folder, tmp_path, "search_space.layers=[2,6]", "search_space.growth=[12]", "max_params=200000",
               "n_trials=2")
    search(cfg, tmp_path / "out", log=lambda m: None)
    first = TrialRecord.of(_study(tmp_path).trials[0])
    assert first.baseline == "densenet_bc40_k12"
    assert first.genotype_id == nas.PRESETS["densenet_bc40_k12"].id
    assert first.state == TrialState.COMPLETE


@pytest.mark.parametrize("extra, message", [
    (["n_trials=0"], "n_trials=0"),
    (["objectives=[val_accuracy,latency]"], "unknown objective 'latency'"),
    (["sampler.name=cmaes"], "sampler=cmaes: unknown sampler; choose one of tpe"),
    (["search_space.layers=[6,2]"], "with 1 ≤ low ≤ high"),
    (["prune_threshold=2"], "prune_threshold=2: connection strengths are normalised"),
    (["gpu_memory_share=2"], r"gpu_memory_share=2: must be in \(0, 1\]"),
    (["timeout=0"], "timeout=0: must be a number of seconds > 0"),
    (["cpu_threads=0"], "cpu_threads=0: must be a whole number ≥ 1"),
    (["cpu_threads=100000"], r"cpu_threads=100000: must be a whole number ≥ 1 and ≤ \d+ or null \(at most the cores"),
    (["enqueue_baselines=maybe"], "enqueue_baselines='maybe': give true or false"),
    (["device=mps"], "device='mps': use auto, cpu, cuda or cuda:N"),
])
def test_bad_settings(folder, tmp_path, extra, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        search(_cfg(folder, tmp_path, *extra), tmp_path / "out", log=lambda m: None)


@pytest.mark.parametrize("change, key", [
    (["data.val_size=9"], "val_size=12, not 9"),
    (["train.epochs=2"], "train.epochs=1, not 2"),
    (["data.split_seed=3"], "split_seed=0, not 3"),
])
def test_a_resume_on_other_data_or_budget_is_refused_and_loses_nothing(folder, tmp_path, change, key):
    search(_cfg(folder, tmp_path, "n_trials=1"), tmp_path / "out", log=lambda m: None)
    with pytest.raises(ValueError, match=f"study 's' was run with {re.escape(key)}: .* another study_name"):
        search(_cfg(folder, tmp_path, "n_trials=2", *change), tmp_path / "out", log=lambda m: None)
    trials = _study(tmp_path).trials
    assert len(trials) == 1 and trials[0].state == TrialState.COMPLETE  # nothing added, nothing left running


def test_objectives_of_an_existing_study_are_kept(folder, tmp_path):
    search(_cfg(folder, tmp_path, "n_trials=1"), tmp_path / "out", log=lambda m: None)
    with pytest.raises(ValueError, match="exists with objectives"):
        search(_cfg(folder, tmp_path, "n_trials=2", "objectives=[val_accuracy]"), tmp_path / "out",
                   log=lambda m: None)


@pytest.mark.parametrize("sampler, kind", [("tpe", optuna.samplers.TPESampler), ("nsga2", optuna.samplers.NSGAIISampler),
                                           ("random", optuna.samplers.RandomSampler), ("gp", optuna.samplers.GPSampler)])
def test_samplers(folder, tmp_path, monkeypatch, sampler, kind):
    from nas.workers import worker

    made = []
    real = worker.make_sampler
    monkeypatch.setattr(worker, "make_sampler", lambda *a: made.append(real(*a)) or made[-1])  # a spy: real samplers
    result = search(_cfg(folder, tmp_path, f"sampler={sampler}", "n_trials=2"), tmp_path / "out",
                        log=lambda m: None)
    assert result["n_complete"] + result["n_duplicate"] == 2
    assert made and all(type(s) is kind for s in made)  # the study ran with the sampler asked for
    if sampler == "tpe":  # conditional parameters (pattern → m, bottleneck) modelled jointly
        assert made[-1]._multivariate and made[-1]._group


def test_cli_last_line_is_json(folder, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nas.search", *[o for o in _overrides_cli(folder, tmp_path)]],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"study_name", "n_complete", "n_failed", "n_infeasible", "pareto"} <= set(result)
    assert (tmp_path / "runs" / "cli" / "trials.csv").is_file()
    assert (tmp_path / "runs" / "cli" / "study.db").is_file()  # the default SQLite file


def _overrides_cli(folder, tmp_path):
    return ["data=folder", f"data.root={folder}", f"data.cache_dir={tmp_path / 'cache'}", "data.val_size=12",
            "train=smoke", "train.batch_size=16", "device=cpu", "study_name=cli", "search_space.layers=[2,4]",
            "search_space.growth=[4,8]", "n_trials=2", "logger.mode=offline"]


def test_wandb_offline_runs_and_pareto_table(folder, tmp_path):
    out = tmp_path / "out"
    search(_cfg(folder, tmp_path, "logger=wandb", "logger.mode=offline"), out, log=lambda m: None)
    runs = sorted((out / "wandb").glob("offline-run-*"))
    trained = [t for t in _study(tmp_path).trials if TrialRecord.of(t).history]
    assert len(runs) == 1 + len(trained)  # the study run and one run per trained trial
    media = out / "wandb"
    complete = sum(t.state == TrialState.COMPLETE for t in _study(tmp_path).trials)
    parts = [json.loads(p.read_text()) for p in media.glob("offline-run-*/files/media/table/trials_*.table.json")]
    assert parts and all("val_accuracy" in p["columns"] and "pareto" in p["columns"] for p in parts)
    assert sum(len(p["data"]) for p in parts) == complete  # an incremental table: each row logged once
    charts = sorted(media.glob("offline-run-*/files/media/plotly/accuracy_vs_params_*.plotly.json"),
                    key=lambda p: int(p.name.split("_")[-2]))
    final = json.loads(charts[-1].read_text())  # the chart over all trials, drawn at the end
    groups = {trace["name"]: len(trace["hovertext"]) for trace in final["data"]}
    assert sum(groups.values()) == complete and groups["Pareto set"] >= 1  # the front marked apart
    assert "baselines" not in groups  # none were run here: no empty legend entry
    drawn = {p.parent.parent.parent.parent.parent.name
             for p in media.glob("offline-run-*/files/media/images/connection_strengths/*.png")}
    assert len(drawn) == complete  # each trained trial's run shows its connection strengths


def test_out_of_memory_while_measuring_latency_keeps_the_training_result(folder, tmp_path, monkeypatch):
    """Batch 256 at inference can exhaust a GPU that training fit in: an oom result, not an error."""
    from nas.evaluators import training as evaluators
    from nas.training.metrics import inference_latency

    def latency(model, size, *, batch_size, **kw):
        if batch_size == 256:  # what CUDA raises; this CPU has memory to spare for tiny models
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return inference_latency(model, size, batch_size=batch_size, **kw)

    monkeypatch.setattr(evaluators, "inference_latency", latency)
    search(_cfg(folder, tmp_path, "objectives=[val_accuracy,latency_batch_ms]", "n_trials=1",
                    "enqueue_baselines=false"), tmp_path / "out", log=lambda m: None)
    (r,) = map(TrialRecord.of, _study(tmp_path).trials)
    assert r.status == Status.OOM and "measuring inference latency" in r.reason and "result is kept" in r.reason
    assert 0 <= r.metrics["val_accuracy"] <= 1 and r.history and r.heatmaps  # trained, and kept


def test_out_of_memory_on_a_shared_gpu_is_run_again_not_a_result(folder, tmp_path, monkeypatch):
    """With workers sharing a GPU a neighbour may hold the memory: the trial is queued again
    (up to storage.max_retry) instead of an oom result that would block its genotype for good."""
    from nas.evaluators import training as evaluators
    from nas.study.slots import retries

    def out_of_memory(genotype, data, cfg, *, seed, measured=None, **kw):  # what fit() reports for a CUDA OOM
        return None, {"status": "oom", "reason": "out of memory on cuda: CUDA out of memory. Tried to allocate 1 GiB",
                      "history": [], "params": measured[1], "macs": measured[2],
                      "memory_estimate_bytes": 2**30, "memory_cap_bytes": 2**31,  # it fit the estimate, then ran out
                      "environment": {"cpu": "test", "threads": 1, "torch": "test", "gpu": "test"}}

    monkeypatch.setattr(evaluators, "train_genotype", out_of_memory)
    # This worker had reserved well under its share when memory ran out (what CUDA's counters tell).
    monkeypatch.setattr(evaluators, "neighbour_may_hold", lambda device, share: True)
    search(_cfg(folder, tmp_path, "gpu_memory_share=0.5", "storage.max_retry=1", "n_trials=1",
                    "enqueue_baselines=false"), tmp_path / "out", log=lambda m: None)
    trials = _study(tmp_path).trials
    first, rerun = (TrialRecord.of(t) for t in trials)
    assert first.status == Status.INTERRUPTED and "shared with other workers" in first.reason
    assert retries(trials) == {0: 1} and rerun.params == first.params  # the same parameters, run again
    assert [t.number for t in counted(trials)] == [1]  # the budget slot went to the rerun


def test_out_of_memory_within_its_own_share_is_an_oom_result(folder, tmp_path, monkeypatch):
    """A worker that filled its own share: the model does not fit, whoever else shares the GPU."""
    from nas.evaluators import training as evaluators

    def out_of_memory(genotype, data, cfg, *, seed, measured=None, **kw):
        return None, {"status": "oom", "reason": "out of memory on cuda: CUDA out of memory. Tried to allocate 1 GiB",
                      "history": [], "params": measured[1], "macs": measured[2],
                      "memory_estimate_bytes": 2**30, "memory_cap_bytes": 2**31,  # it fit the estimate, then ran out
                      "environment": {"cpu": "test", "threads": 1, "torch": "test", "gpu": "test"}}

    monkeypatch.setattr(evaluators, "train_genotype", out_of_memory)
    monkeypatch.setattr(evaluators, "neighbour_may_hold", lambda device, share: False)
    search(_cfg(folder, tmp_path, "gpu_memory_share=0.5", "n_trials=1", "enqueue_baselines=false"),
               tmp_path / "out", log=lambda m: None)
    (only,) = map(TrialRecord.of, _study(tmp_path).trials)
    assert only.status == Status.OOM  # recorded once, its genotype not tried again


def test_wandb_mode_must_be_offline_or_online(folder, tmp_path):
    with pytest.raises(ValueError, match="logger.mode='shared'"):
        search(_cfg(folder, tmp_path, "logger=wandb", "logger.mode=shared"), tmp_path / "out", log=lambda m: None)


def test_latency_and_hardware_objectives(folder, tmp_path):
    objectives = "objectives=[val_accuracy,latency_batch1_ms,latency_batch_ms,images_per_second,peak_memory_bytes]"
    result = search(_cfg(folder, tmp_path, objectives, "n_trials=2"), tmp_path / "out", log=lambda m: None)
    assert result["pareto"]
    for r in map(TrialRecord.of, _study(tmp_path).trials):
        if r.state == TrialState.COMPLETE:
            b1, big = r.metrics["latency_batch1_ms"], r.metrics["latency_batch_ms"]
            assert 0 < b1 < big and r.values[1] == b1 and r.values[2] == big
            assert r.values[3] == r.metrics["images_per_second"] > 0


def test_a_study_whose_every_trial_fails_says_so(folder, tmp_path):
    said = []
    result = search(_cfg(folder, tmp_path, "train.lr=1e30", "n_trials=2"), tmp_path / "out", log=said.append)
    assert result["n_complete"] == 0 and result["n_failed"] + result["n_duplicate"] == 2
    assert any("every trial failed" in m for m in said)
    failed = [TrialRecord.of(t) for t in _study(tmp_path).trials if t.state == TrialState.FAIL]
    assert failed and all(r.status == Status.DIVERGED and r.reason for r in failed)
    assert "diverged" in (tmp_path / "out" / "trials.csv").read_text()


def test_pareto_trials_get_their_pruned_children(folder, tmp_path):
    one_pattern = ["search_space.patterns=[full]", "search_space.layers=[4,4]", "search_space.bottleneck=[null]"]
    said = []
    search(_cfg(folder, tmp_path, *one_pattern, "prune_threshold=1.0", "n_trials=4"), tmp_path / "out",
               log=said.append)
    trials = _study(tmp_path).trials
    records = [TrialRecord.of(t) for t in trials]
    children = [r for r in records if r.pruned_from is not None]
    assert children and any("pruned child" in m for m in said)
    for child in children:
        parent = records[child.pruned_from]
        kid, mom = Genotype.from_dict(child.genotype), Genotype.from_dict(parent.genotype)
        assert all(b.pattern == "explicit" for b in kid.blocks)
        assert sum(b.connections() for b in kid.blocks) < sum(b.connections() for b in mom.blocks)
        if child.state == TrialState.COMPLETE:
            assert child.metrics["params"] < parent.metrics["params"] and child.params == parent.params
    assert len(counted(trials)) == 4


def test_a_resumed_study_does_not_redraw_its_first_samples(folder, tmp_path):
    search(_cfg(folder, tmp_path, "n_trials=2", "sampler=random"), tmp_path / "out", log=lambda m: None)
    search(_cfg(folder, tmp_path, "n_trials=4", "sampler=random"), tmp_path / "out", log=lambda m: None)
    trials = _study(tmp_path).trials
    assert [t.params for t in trials[2:]] != [t.params for t in trials[:2]]
    assert all(TrialRecord.of(t).status != Status.DUPLICATE for t in trials)


def test_a_genotype_over_the_memory_cap_is_recorded_as_oom_and_the_study_goes_on(folder, tmp_path):
    import dataclasses

    from nas.settings import data_config, train_config
    from nas.training.data import prepare
    from nas.training.run import fit_in_memory, measure

    two = ["search_space.layers=[2,2]", "search_space.growth=[4,32]", "search_space.growth_schedule=[constant]",
           "search_space.patterns=[full]", "search_space.bottleneck=[null]", "search_space.conv=[standard]",
           "search_space.compression=[0.5]", "sampler=random", "enqueue_baselines=false"]
    cfg = _cfg(folder, tmp_path, *two)
    space = __import__("search_spaces").get("dense_connectivity")
    data = prepare(data_config(cfg.data), torch.device("cpu"))
    need = {}
    for growth in (4, 32):  # the two genotypes of this space, estimated as a trial would
        genotype = space.suggest(optuna.trial.FixedTrial({"growth": growth, "growth_schedule": "constant",
                                                          "compression": 0.5, **{f"block{i}.{k}": v for i in (1, 2, 3)
                                                          for k, v in (("layers", 2), ("pattern", "full"),
                                                                       ("bottleneck", None), ("conv", "standard"))}}),
                                 cfg.search_space)
        model, _, _ = measure(genotype, data)
        need[growth] = fit_in_memory(model, data, dataclasses.replace(train_config(cfg.train), memory_limit_gb=1e6))[1]
    assert need[4] < need[32]
    limit = (need[4] + need[32]) / 2 / 2**30
    result = search(_cfg(folder, tmp_path, *two, f"train.memory_limit_gb={limit}", "n_trials=6"), tmp_path / "out",
                        log=lambda m: None)
    records = [TrialRecord.of(t) for t in _study(tmp_path).trials]
    big = [r for r in records if r.genotype and r.genotype["blocks"][0]["growth"] == 32 and r.status != Status.DUPLICATE]
    small = [r for r in records if r.genotype and r.genotype["blocks"][0]["growth"] == 4 and r.status != Status.DUPLICATE]
    assert len(big) == 1 and len(small) == 1 and len(records) == 6  # the rest are duplicates of these two
    (oom,) = big
    assert oom.status == Status.OOM and oom.state == TrialState.FAIL and not oom.history  # never trained
    assert f"train.memory_limit_gb={limit:g}" in oom.reason and "needs an estimated" in oom.reason
    assert oom.metrics["memory_estimate_bytes"] == need[32]
    assert small[0].status == Status.OK and result["n_complete"] == 1


def test_scoring_proxies_before_training_does_not_change_training(folder, tmp_path):
    """A trial's result depends only on its genotype, data, settings and seed: the zero-cost proxies
    scored on its initial weights and first batches leave training's random streams alone."""
    histories = {}
    for proxies in ("[synflow,naswot,grad_norm,snip,zico,meco,nn_mass]", "[]"):
        where = tmp_path / proxies.strip("[]")[:6]
        search(_cfg(folder, where, f"proxies={proxies}", "enqueue_baselines=false"), where / "out", log=lambda m: None)
        records = [TrialRecord.of(t) for t in _study(where).get_trials()]
        assert all(bool(r.proxies) == (proxies != "[]") for r in records if r.status == Status.OK)
        histories[proxies] = {r.genotype_id: [(h["val_accuracy"], h["val_loss"], h["train_loss"]) for h in r.history]
                              for r in records if r.status == Status.OK}
    scored, plain = histories.values()
    assert scored and scored == plain
