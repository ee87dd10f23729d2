"""Several workers on one study, and workers that die: real processes, real storages
(SQLite file, journal file, a PostgreSQL server on loopback), SIGKILL mid-trial."""

import signal
import subprocess
import sys

import optuna
import pytest
from datasets import write_folder
from hydra import compose, initialize_config_dir
from optuna.trial import TrialState
from processes import CONF, N_TRIALS, finish, load, overrides, start, storage, wait_until_training

from nas.runtime import startup, threads_per_worker
from nas.study.record import Status, TrialRecord
from nas.study.slots import counted


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("data") / "ds", n_per_class=48, classes=3, size=16)


def _check_budget(trials: list[optuna.trial.FrozenTrial]) -> None:
    """n_trials met exactly, and no genotype trained to the end twice."""
    assert len(counted(trials)) == N_TRIALS
    trained = [r.genotype_id for r in map(TrialRecord.of, trials) if r.status.trained]
    assert len(trained) == len(set(trained))


def _check_retried(trials: list[optuna.trial.FrozenTrial], killed: int) -> None:
    dead = TrialRecord.of(trials[killed])
    assert dead.state == TrialState.FAIL and dead.status in (Status.TRAINING, Status.INTERRUPTED)
    (retry,) = [TrialRecord.of(t) for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert retry.state == TrialState.COMPLETE and retry.params == dead.params
    assert retry.genotype_id == dead.genotype_id
    assert dead.number not in {t.number for t in counted(trials)}


def test_two_workers_on_postgres_share_the_budget(folder, tmp_path, postgres_url):
    args = overrides(folder, tmp_path, "pg_pair", *storage("postgres", tmp_path, postgres_url))
    procs = [start([*args, f"worker={i}"], tmp_path, f"w{i}") for i in range(2)]
    for i, p in enumerate(procs):
        finish(p, tmp_path, f"w{i}")
    trials = load("postgres", tmp_path, "pg_pair", postgres_url).get_trials()
    _check_budget(trials)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == N_TRIALS
    assert {TrialRecord.of(t).worker.split("@")[0] for t in complete} == {"0", "1"}  # both workers trained


@pytest.mark.parametrize("kind", ["postgres", "journal"])
def test_a_killed_workers_trial_is_retried_by_the_other(folder, tmp_path, kind, request):
    url = request.getfixturevalue("postgres_url") if kind == "postgres" else None
    study_name = f"kill_{kind}"
    args = overrides(folder, tmp_path, study_name, *storage(kind, tmp_path, url))
    survivor = start([*args, "worker=0"], tmp_path, "w0")
    victim = start([*args, "worker=1"], tmp_path, "w1")
    killed = wait_until_training(lambda: load(kind, tmp_path, study_name, url), victim.pid)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    out = finish(survivor, tmp_path, "w0")
    assert f"trial {killed}: its worker" in out  # the survivor noticed the silence
    trials = load(kind, tmp_path, study_name, url).get_trials()
    _check_retried(trials, killed)
    _check_budget(trials)


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_kill_and_restart_resumes_the_study(folder, tmp_path, kind):
    args = [*overrides(folder, tmp_path, f"restart_{kind}", *storage(kind, tmp_path))]
    first = start(args, tmp_path, "first")
    killed = wait_until_training(lambda: load(kind, tmp_path, f"restart_{kind}"), first.pid)
    first.send_signal(signal.SIGKILL)
    first.wait()
    finish(start(args, tmp_path, "second"), tmp_path, "second")
    trials = load(kind, tmp_path, f"restart_{kind}").get_trials()
    _check_retried(trials, killed)
    _check_budget(trials)


def test_sigterm_hands_the_trial_back_at_once(folder, tmp_path):
    args = overrides(folder, tmp_path, "term", *storage("sqlite", tmp_path), "storage.grace_period=600")
    first = start(args, tmp_path, "first")
    stopped = wait_until_training(lambda: load("sqlite", tmp_path, "term"), first.pid)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 130
    assert "queued again" in (tmp_path / "first.log").read_text()
    trials = load("sqlite", tmp_path, "term").get_trials()
    assert not any(t.state == TrialState.RUNNING for t in trials)  # nothing left for a grace period to expire
    handed_back = TrialRecord.of(trials[stopped]).status == Status.INTERRUPTED
    if handed_back:  # the usual case; rarely Python drops the interrupt and the trial finishes first
        assert any(t.state == TrialState.WAITING and t.system_attrs.get("failed_trial") == stopped for t in trials)
    finish(start(args, tmp_path, "second"), tmp_path, "second")  # nothing RUNNING above: no grace period to wait out
    trials = load("sqlite", tmp_path, "term").get_trials()
    if handed_back:
        _check_retried(trials, stopped)
    _check_budget(trials)


def test_joblib_launcher_starts_workers_on_one_journal(folder, tmp_path):
    args = [a for a in overrides(folder, tmp_path, "launched", *storage("journal", tmp_path), "n_trials=4")
            if not a.startswith("cpu_threads=")]  # the launcher's share of the cores
    proc = subprocess.run([sys.executable, "-m", "nas.search", "-m", "+launcher=local", "workers=2", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = load("journal", tmp_path, "launched").get_trials()
    assert len(counted(trials)) == 4
    assert {r.worker.split("@")[0] for r in map(TrialRecord.of, trials) if r.worker} == {"0", "1"}
    sweep = next((tmp_path / "runs" / "launched" / "hydra").glob("multirun-*"))
    assert (sweep / "worker0").is_dir() and (sweep / "worker1").is_dir()
    threads = threads_per_worker(2)
    assert proc.stderr.count(f"trials train on the CPU ({threads} thread{'s' * (threads != 1)})") == 2
    for worker in (0, 1):  # one GPU each
        assert f"this is worker {worker} (" in proc.stderr
        assert f"worker {worker} ({proc.stderr.split(f'worker {worker} (')[1].split(')')[0]}), " \
               f"CUDA_VISIBLE_DEVICES={worker}" in proc.stderr


def test_local_launcher_packs_workers_onto_gpus():
    startup()  # registers the config's gpu_of_worker resolver, as the commands do

    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfgs = [compose(config_name="search", overrides=["+launcher=local", "workers=4", "workers_per_gpu=2",
                                                         f"worker={w}"]) for w in range(4)]
        postgres = compose(config_name="search", overrides=["+launcher=local", "storage=postgres"])
    assert [c.gpu for c in cfgs] == ["0", "0", "1", "1"]
    assert [c.gpu_memory_share for c in cfgs] == [0.5] * 4  # two to a GPU: half its memory each
    assert [c.cpu_threads for c in cfgs] == [threads_per_worker(4)] * 4  # and a quarter of the cores each
    assert cfgs[0].storage.name == "journal" and postgres.storage.name == "postgres"  # journal unless told


def test_slurm_launcher_config_makes_a_job_array():
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="search", overrides=["+launcher=slurm", "workers=8", "storage=postgres",
                                                       "storage.url=postgresql://u@db/nas"],
                      return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert cfg.hydra.sweeper.params.worker == "range(8)" and cfg.hydra.launcher.array_parallelism == 8
    assert cfg.hydra.launcher.gpus_per_node == 1


def test_each_worker_samples_with_its_own_seed():
    from nas.study.samplers import worker_seed

    seeds = {worker_seed(0, w) for w in range(16)} | {worker_seed(0, 0, existing=n) for n in range(1, 16)}
    assert len(seeds) == 31 and worker_seed(5, 0) == 5 and worker_seed(5, 3, 7) == worker_seed(5, 3, 7)
