"""Rung decisions read from and recorded in a real study: in memory, in searches, across two
worker processes on one journal, and across a worker killed mid-trial and a restart."""

import signal
from pathlib import Path

import optuna
import pytest
from datasets import write_folder
from hydra import compose, initialize_config_dir
from optuna.trial import TrialState
from processes import CONF, finish, load, overrides, start, storage
from searching import search

from nas.genotype import Genotype
from nas.pareto.objectives import losses
from nas.scheduling import ASHA, Hyperband, Stop, decide
from nas.scheduling.pareto_asha import population
from nas.settings import data_config, train_config
from nas.study.record import RECORD, Status, TrialRecord
from nas.study.slots import counted
from nas.training.data import prepare
from nas.training.run import train_genotype
from nas.workers.rungs import SHORTFALL, RungJudge, shortfall, stored_rungs

OBJ = ["val_accuracy", "params"]
ASHA_ARGS = ["scheduler=asha", "scheduler.eta=2", "train.epochs=4", "train.stop_at_chance=false"]


def _rung(epoch, at, acc, params, go=True, bracket=0, **extra):
    return {"epoch": epoch, "bracket": bracket, "values": {"val_accuracy": acc, "params": params}, "go": go,
            "position": 1, "of": 1, "kept": 1, "seen": [], "at": at, **extra}


def _stored(study, genotype_id, rungs, state=TrialState.COMPLETE, status=Status.OK):
    record = {"status": status.value, "genotype_id": genotype_id, "rungs": rungs}
    study.add_trial(optuna.create_trial(state=state, values=[0.5, 10] if state == TrialState.COMPLETE else None,
                                        user_attrs={RECORD: record}))


def _memory_study():
    return optuna.create_study(directions=["maximize", "minimize"])


def test_a_rungs_population_is_one_result_per_genotype_in_the_order_recorded():
    study = _memory_study()
    _stored(study, "a", [_rung(1, at=1.0, acc=0.5, params=10), _rung(2, at=4.0, acc=0.6, params=10)])
    _stored(study, "b", [_rung(1, at=3.0, acc=0.4, params=20)], state=TrialState.PRUNED, status=Status.STOPPED)
    _stored(study, "a", [_rung(1, at=5.0, acc=0.9, params=10, inherited_from=0)], state=TrialState.FAIL,
            status=Status.TRAINING)  # a retry of trial 0: its worker died
    _stored(study, "c", [_rung(1, at=2.0, acc=0.7, params=5, bracket=1)])  # another bracket
    _stored(study, "d", [_rung(1, at=0.5, acc=0.7, params=5)], state=TrialState.FAIL, status=Status.TRAINING)
    trials = study.get_trials(deepcopy=False)
    earlier, inherited = population(trials, 0, 1, "e", stored_rungs)
    assert [n for n, _ in earlier] == [4, 0, 1] and inherited is None  # by time recorded; a dead worker's counts
    assert earlier[1][1]["values"]["val_accuracy"] == 0.5  # genotype a's first result, not the retry's
    earlier, inherited = population(trials, 0, 1, "a", stored_rungs)
    assert [n for n, _ in earlier] == [4, 1] and inherited[0] == 0
    assert population(trials, 0, 3, "e", stored_rungs) == ([], None)


def test_a_stopped_genotype_is_claimed_and_never_trained_again():
    from nas.study.slots import claimed

    study = _memory_study()
    _stored(study, "a", [_rung(1, at=1.0, acc=0.5, params=10, go=False)], state=TrialState.PRUNED,
            status=Status.STOPPED)
    assert claimed(study.get_trials(deepcopy=False), me=5, genotype_id="a") == 0


def _judge(study, genotype_id, params, scheduler=ASHA(eta=2, min_epochs=1, max_epochs=4)):
    trial = study.ask()
    record = TrialRecord(Status.TRAINING, genotype_id=genotype_id, metrics={"params": params, "macs": 1})
    return trial, record, RungJudge(study, trial, record, scheduler, OBJ)


def _epoch(epoch, acc):
    return {"epoch": epoch, "val_accuracy": acc, "val_loss": 1.0, "seconds": 1.0, "images_per_second": 100.0}


def test_the_judge_decides_from_the_storage_records_before_going_on_and_never_decides_twice():
    study = _memory_study()
    _stored(study, "a", [_rung(1, at=1.0, acc=0.8, params=10)])
    _stored(study, "b", [_rung(1, at=2.0, acc=0.7, params=5)])
    trial, record, judge = _judge(study, "x", params=50)  # less accurate than a and larger than both
    assert judge(1, _epoch(1, 0.6)) == Stop("stopped after epoch 1 (rung 1 of 2: Pareto place 3 of 3 trials "
                                            "at this rung; the first 2 go on)")
    stored = TrialRecord.of(study.get_trials(deepcopy=False)[trial.number]).rungs  # written before returning
    assert len(stored) == 1 and stored[0]["go"] is False and stored[0]["seen"] == [0, 1]
    assert stored[0]["values"] == {"val_accuracy": 0.6, "params": 50.0}
    # a retry of the same genotype (its worker died after the decision) takes it over, even with a better result
    study.tell(trial, state=TrialState.FAIL)
    retry, retry_record, again = _judge(study, "x", params=50)
    stop = again(1, _epoch(1, 0.99))
    assert not stop.hopeless and "as decided for this genotype in trial 2" in stop.reason
    assert retry_record.rungs[0]["inherited_from"] == trial.number and retry_record.rungs[0]["go"] is False
    # no decision at an epoch that is not one of the bracket's rungs
    other, other_record, judge = _judge(study, "y", params=1)
    assert judge(1, _epoch(1, 0.9)) is None and judge(3, _epoch(3, 0.9)) is None
    assert [r["epoch"] for r in other_record.rungs] == [1]
    assert other_record.rungs[0]["values"]["val_accuracy"] == 0.9


def test_a_stopped_trial_tells_tpe_how_far_it_fell_short():
    record = TrialRecord(Status.STOPPED, rungs=[_rung(1, 1.0, 0.5, 10), {**_rung(3, 2.0, 0.5, 10), "position": 4,
                                                                        "of": 8}])
    assert shortfall(record, max_epochs=9) == pytest.approx(6 + 0.5)


# ---- searches ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("data") / "ds", n_per_class=16, classes=3, size=8)


def _cfg(folder, tmp_path, *extra):
    args = ["data=folder", f"data.root={folder}", f"data.cache_dir={tmp_path / 'cache'}", "data.val_size=12",
            "train=smoke", "train.batch_size=16", "train.progress=false", "device=cpu", "study_name=s",
            f"storage.url=sqlite:///{tmp_path / 'study.db'}", "search_space.layers=[2,4]",
            "search_space.growth=[4,8]", "logger=none", "enqueue_baselines=false", *extra]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="search", overrides=args)


def _audit(trials: list[optuna.trial.FrozenTrial], eta: float, objectives: list[str]) -> int:
    """Every recorded decision follows from the rung results it saw, each seen result was recorded
    before it, and no genotype has two decisions at one rung. Returns the number of decisions."""
    entries = {}  # (trial, bracket, epoch) → rung
    for t in trials:
        for rung in TrialRecord.of(t).rungs:
            entries[(t.number, rung["bracket"], rung["epoch"])] = rung
    decided = {}
    for (number, bracket, epoch), rung in entries.items():
        genotype = TrialRecord.of(trials[number]).genotype_id
        assert decided.setdefault((genotype, bracket, epoch), rung["go"]) == rung["go"]
        if "inherited_from" in rung:
            assert entries[(rung["inherited_from"], bracket, epoch)]["go"] == rung["go"]
            continue
        seen = [entries[(n, bracket, epoch)] for n in rung["seen"]]
        assert all(s["at"] < rung["at"] for s in seen)
        d = decide(losses([rung["values"][o] for o in objectives], objectives),
                   [losses([s["values"][o] for o in objectives], objectives) for s in seen], eta)
        assert (d.go, d.position, d.of, d.kept) == (rung["go"], rung["position"], rung["of"], rung["kept"])
    return len(entries)


def test_an_asha_search_stops_trials_at_rungs_and_keeps_them_off_the_front(folder, tmp_path):
    out = tmp_path / "out"
    result = search(_cfg(folder, tmp_path, *ASHA_ARGS, "n_trials=10"), out, log=lambda m: None)
    trials = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}").get_trials()
    records = [TrialRecord.of(t) for t in trials]
    stopped = [r for r in records if r.status == Status.STOPPED]
    assert stopped and result["n_stopped"] == len(stopped) and len(counted(trials)) == 10
    for r in stopped:  # told PRUNED, with the shortfall TPE reads; trained to its last rung, not beyond
        t = trials[r.number]
        assert t.state == TrialState.PRUNED and t.values is None
        assert t.constraints[SHORTFALL] == pytest.approx(4 - r.rungs[-1]["epoch"] + r.rungs[-1]["position"] / r.rungs[-1]["of"])
        assert r.rungs[-1]["go"] is False and all(x["go"] for x in r.rungs[:-1])
        assert r.metrics["epochs"] == r.rungs[-1]["epoch"] == len(r.history)
    complete = [r for r in records if r.state == TrialState.COMPLETE]
    assert all(len(r.rungs) == 2 and all(x["go"] for x in r.rungs) and r.metrics["epochs"] == 4 for r in complete)
    assert {p["trial"] for p in result["pareto"]} <= {r.number for r in complete}
    assert _audit(trials, 2, ["val_accuracy", "params", "macs"]) >= 10
    rows = (out / "trials.csv").read_text()
    assert rows.count(",PRUNED,stopped,stopped after epoch") == len(stopped)
    from nas.analysis.html_report import build

    page = build(optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}"), tmp_path / "report")
    text = page.read_text()
    assert "Stopped at a rung" in text and f"{len(stopped)} stopped at a rung by the scheduler" in text


def test_hyperband_ranks_each_trial_at_its_brackets_rungs(folder, tmp_path):
    said = []
    search(_cfg(folder, tmp_path, *ASHA_ARGS, "scheduler=hyperband", "n_trials=8"), tmp_path / "out", log=said.append)
    assert any("scheduler=hyperband: trials are ranked after epoch(s) 1, 2 of 4 (3 brackets)" in m for m in said)
    band = Hyperband(eta=2, min_epochs=1, max_epochs=4, brackets=None)
    trials = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}").get_trials()
    for r in map(TrialRecord.of, trials):
        if r.status.trained:
            bracket = band.bracket_of(r.genotype_id)
            assert [x["epoch"] for x in r.rungs] == band.rungs(bracket)[:len(r.rungs)]
            assert all(x["bracket"] == bracket for x in r.rungs)
            if r.state == TrialState.COMPLETE:
                assert len(r.rungs) == len(band.rungs(bracket))  # the last bracket: no rung, full budget
    _audit(trials, 2, ["val_accuracy", "params", "macs"])


def test_scheduler_none_trains_every_trial_as_before_and_going_on_leaves_training_untouched(folder, tmp_path):
    none = search(_cfg(folder, tmp_path / "none", "n_trials=2", "train.epochs=4", "train.stop_at_chance=false"),
                      tmp_path / "none" / "out", log=lambda m: None)
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'none' / 'study.db'}")
    first = TrialRecord.of(study.trials[0])
    assert none["n_complete"] == 2 and not first.rungs and first.status == Status.OK
    # the unit every trial went through before schedulers existed, with the trial's seed
    cfg = _cfg(folder, tmp_path / "none", "train.epochs=4", "train.stop_at_chance=false")
    tcfg = train_config(cfg.train)
    data = prepare(data_config(cfg.data), __import__("torch").device("cpu"), channels_last=True)
    _, plain = train_genotype(Genotype.from_dict(first.genotype), data, tcfg, seed=cfg.seed + 0)
    assert first.metrics["val_accuracy"] == plain["val_accuracy"] and first.metrics["val_loss"] == plain["val_loss"]
    assert [h["train_loss"] for h in first.history] == [h["train_loss"] for h in plain["history"]]
    # asha's first trial is alone at every rung and goes on: the same numbers, with its decisions recorded
    search(_cfg(folder, tmp_path / "asha", "n_trials=1", *ASHA_ARGS), tmp_path / "asha" / "out", log=lambda m: None)
    alone = TrialRecord.of(optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'asha' / 'study.db'}")
                           .trials[0])
    assert alone.genotype_id == first.genotype_id and [r["go"] for r in alone.rungs] == [True, True]
    assert alone.metrics["val_accuracy"] == first.metrics["val_accuracy"]
    assert [h["train_loss"] for h in alone.history] == [h["train_loss"] for h in first.history]


def test_a_trial_asha_never_stops_trains_as_rung_cycles_with_the_same_cycles_without_a_scheduler(folder, tmp_path):
    cycles = ["train.protocol=rung_cycles"]
    search(_cfg(folder, tmp_path / "asha", "n_trials=1", *ASHA_ARGS, *cycles), tmp_path / "asha" / "out",
               log=lambda m: None)
    alone = TrialRecord.of(optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'asha' / 'study.db'}")
                           .trials[0])
    assert [r["epoch"] for r in alone.rungs] == [1, 2] and all(r["go"] for r in alone.rungs)

    def plain(where, *extra):
        search(_cfg(folder, tmp_path / where, "n_trials=1", "train.epochs=4", "train.stop_at_chance=false",
                        *cycles, *extra), tmp_path / where / "out", log=lambda m: None)
        return TrialRecord.of(optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / where / 'study.db'}")
                              .trials[0])

    same = plain("none", "train.cycle_ends=[1,2]")  # asha's rungs at eta=2 over 4 epochs
    assert same.genotype_id == alone.genotype_id
    assert same.metrics["val_accuracy"] == alone.metrics["val_accuracy"]
    assert [(h["train_loss"], h["lr"]) for h in same.history] == [(h["train_loss"], h["lr"]) for h in alone.history]
    other = plain("default")  # cycles at asha's default rungs (eta=3: epochs 1 and 3): other numbers
    assert [h["lr"] for h in other.history] != [h["lr"] for h in alone.history]


def test_explicit_cycle_ends_under_a_scheduler_are_refused(folder, tmp_path):
    with pytest.raises(ValueError, match=r"train.cycle_ends=\[1, 2\] with scheduler=asha: under a scheduler "
                                         r"rung_cycles ends its cycles at each trial's rungs"):
        search(_cfg(folder, tmp_path, "n_trials=1", *ASHA_ARGS, "train.protocol=rung_cycles", "train.cycle_ends=[1,2]"),
                   tmp_path / "out", log=lambda m: None)
    assert not (tmp_path / "study.db").exists()


def test_a_resume_with_another_training_protocol_is_refused(folder, tmp_path):
    search(_cfg(folder, tmp_path, "n_trials=1", *ASHA_ARGS, "train.protocol=rung_cycles"), tmp_path / "out",
               log=lambda m: None)
    with pytest.raises(ValueError, match=r"was run with train.protocol='rung_cycles', not 'ema'"):
        search(_cfg(folder, tmp_path, "n_trials=2", *ASHA_ARGS, "train.protocol=ema"), tmp_path / "out",
                   log=lambda m: None)
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert len(study.trials) == 1
    # a study recorded before protocols had cycle_ends and ema_half_life resumes with its own protocol
    setup = study.user_attrs["setup"]
    study.set_user_attr("setup", {**setup, "train": {k: v for k, v in setup["train"].items()
                                                     if k not in ("cycle_ends", "ema_half_life")}})
    search(_cfg(folder, tmp_path, "n_trials=2", *ASHA_ARGS, "train.protocol=rung_cycles"), tmp_path / "out",
               log=lambda m: None)
    assert len(optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}").trials) == 2


BEFORE_SCHEDULERS = "fbcf757"  # the last commit without schedulers


def _search_process(folder, where: Path, pythonpath: str | None, *extra: str) -> list[TrialRecord]:
    import os
    import subprocess
    import sys

    where.mkdir(parents=True)
    env = {**os.environ, **({"PYTHONPATH": pythonpath} if pythonpath else {})}
    args = ["data=folder", f"data.root={folder}", f"data.cache_dir={where / 'cache'}", "data.val_size=12", "train=smoke",
            "train.batch_size=16", "train.epochs=3", "train.stop_at_chance=false", "device=cpu", "study_name=s",
            f"storage.url=sqlite:///{where / 'study.db'}", "search_space.layers=[2,4]", "search_space.growth=[4,8]",
            "logger=none", "n_trials=3", *extra]
    proc = subprocess.run([sys.executable, "-m", "nas.search", *args], cwd=where, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [TrialRecord.of(t) for t in optuna.load_study(study_name="s", storage=f"sqlite:///{where / 'study.db'}").trials]


def test_scheduler_none_reproduces_the_search_from_before_schedulers(folder, tmp_path):
    import io
    import subprocess
    import tarfile

    root = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", BEFORE_SCHEDULERS, "nas",
                              "search_spaces", "conf"], capture_output=True)
    if archive.returncode != 0:
        pytest.skip(f"needs the repository's history (commit {BEFORE_SCHEDULERS})")
    old = tmp_path / "old"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(old, filter="tar")
    before = _search_process(folder, tmp_path / "before", str(old))
    now = _search_process(folder, tmp_path / "now", None, "scheduler=none")
    assert [r.genotype_id for r in now] == [r.genotype_id for r in before]
    assert [r.values for r in now] == [r.values for r in before]  # the same numbers, to the last bit
    assert [[h["train_loss"] for h in r.history] for r in now] == [[h["train_loss"] for h in r.history] for r in before]
    assert all(r.status == Status.OK and not r.rungs for r in now)


@pytest.mark.parametrize("extra, message", [
    (["scheduler=asha", "train.epochs=1"], "scheduler.max_epochs=1: must be a whole number ≥ 2"),
    (["scheduler=asha", "train.epochs=4", "objectives=[params,macs]"], "has neither val_accuracy nor val_loss"),
    (["scheduler=asha", "train.epochs=4", "scheduler.max_epochs=8"], "scheduler.max_epochs=8 but train.epochs=4"),
])
def test_a_scheduler_that_cannot_work_is_refused_before_any_trial(folder, tmp_path, extra, message):
    with pytest.raises(ValueError, match=message):
        search(_cfg(folder, tmp_path, "n_trials=2", *extra), tmp_path / "out", log=lambda m: None)
    assert not (tmp_path / "study.db").exists()


def test_a_resume_with_another_scheduler_is_refused(folder, tmp_path):
    search(_cfg(folder, tmp_path, "n_trials=1", *ASHA_ARGS), tmp_path / "out", log=lambda m: None)
    with pytest.raises(ValueError, match=r"was run with scheduler.eta=2, not 3"):
        search(_cfg(folder, tmp_path, "n_trials=2", *ASHA_ARGS, "scheduler.eta=3"), tmp_path / "out",
                   log=lambda m: None)


def test_a_study_from_before_schedulers_ran_without_one(folder, tmp_path):
    search(_cfg(folder, tmp_path, "n_trials=1", "train.epochs=4"), tmp_path / "out", log=lambda m: None)
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}")
    old = {k: v for k, v in study.user_attrs["setup"].items() if k != "scheduler"}  # as an older version stored it
    study.set_user_attr("setup", old)
    with pytest.raises(ValueError, match=r"was run with scheduler.name='none', not 'asha'"):
        search(_cfg(folder, tmp_path, "n_trials=2", *ASHA_ARGS), tmp_path / "out", log=lambda m: None)
    search(_cfg(folder, tmp_path, "n_trials=2", "train.epochs=4"), tmp_path / "out", log=lambda m: None)


def test_rungs_rank_on_the_latency_measured_before_training(folder, tmp_path):
    objectives = "objectives=[val_accuracy,latency_batch1_ms]"
    search(_cfg(folder, tmp_path, "n_trials=3", *ASHA_ARGS, objectives), tmp_path / "out", log=lambda m: None)
    trials = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}").get_trials()
    for r in map(TrialRecord.of, trials):
        assert r.rungs and all(x["values"]["latency_batch1_ms"] == r.metrics["latency_batch1_ms"] > 0 for x in r.rungs)
        if r.state == TrialState.COMPLETE:  # the objective is the value the rungs ranked on, measured once
            assert r.values[1] == r.metrics["latency_batch1_ms"]


# ---- worker processes ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bigger(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("data") / "ds", n_per_class=48, classes=3, size=16)


def test_two_workers_on_one_journal_make_consistent_decisions(bigger, tmp_path):
    args = overrides(bigger, tmp_path, "asha_pair", *storage("journal", tmp_path), *ASHA_ARGS, n_trials=12)
    procs = [start([*args, f"worker={i}"], tmp_path, f"w{i}") for i in range(2)]
    for i, p in enumerate(procs):
        finish(p, tmp_path, f"w{i}")
    trials = load("journal", tmp_path, "asha_pair").get_trials()
    assert len(counted(trials)) == 12
    assert _audit(trials, 2, ["val_accuracy", "params", "macs"]) >= 12
    deciders = {TrialRecord.of(t).worker.split("@")[0] for t in trials if TrialRecord.of(t).rungs}
    assert deciders == {"0", "1"}
    seen_other = [r for t in trials for r in TrialRecord.of(t).rungs
                  if any(TrialRecord.of(trials[n]).worker.split("@")[0] != TrialRecord.of(t).worker.split("@")[0]
                         for n in r["seen"])]
    assert seen_other  # each worker ranked against the other's rung results


def _wait_for_a_rung(study_name: str, tmp_path: Path, pid: int, timeout: float = 180) -> int:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            for t in load("journal", tmp_path, study_name).get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                record = TrialRecord.of(t)
                if record.rungs and record.rungs[-1]["go"] and record.worker.endswith(f":{pid}"):
                    return t.number  # training on after a rung: the kill lands mid-training
        except (KeyError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"worker {pid} never recorded a rung")


def test_a_killed_and_resumed_study_keeps_its_rung_records_and_never_decides_again(bigger, tmp_path):
    args = overrides(bigger, tmp_path, "asha_kill", *storage("journal", tmp_path), *ASHA_ARGS, "train.epochs=8",
                     n_trials=6)
    first = start(args, tmp_path, "first")
    killed = _wait_for_a_rung("asha_kill", tmp_path, first.pid)
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = TrialRecord.of(load("journal", tmp_path, "asha_kill").trials[killed]).rungs
    finish(start(args, tmp_path, "second"), tmp_path, "second")
    trials = load("journal", tmp_path, "asha_kill").get_trials()
    dead = TrialRecord.of(trials[killed])
    assert dead.state == TrialState.FAIL and dead.rungs[:len(before)] == before  # kept as recorded
    (retry,) = [TrialRecord.of(t) for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert retry.genotype_id == dead.genotype_id
    taken_over = {r["epoch"]: r for r in retry.rungs if "inherited_from" in r}
    assert taken_over and all(taken_over[r["epoch"]]["go"] == r["go"] for r in dead.rungs if r["epoch"] in taken_over)
    assert set(taken_over) == {r["epoch"] for r in dead.rungs} & {r["epoch"] for r in retry.rungs}
    assert _audit(trials, 2, ["val_accuracy", "params", "macs"]) >= 6
    assert len(counted(trials)) == 6
