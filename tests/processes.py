"""Worker processes of ``python -m nas.search`` on real storages, for the tests that start and kill them."""

import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

import nas
from nas.study.record import Status, TrialRecord
from nas.study.storage import JournalFileBackend

CONF = str(Path(nas.__file__).parent / "conf")
N_TRIALS = 6
FAST = ["storage.heartbeat_interval=1", "storage.grace_period=3"]


def storage(kind: str, tmp_path: Path, postgres_url: str | None = None) -> list[str]:
    return {"sqlite": [f"storage.url=sqlite:///{tmp_path / 'study.db'}"],
            "journal": ["storage=journal", f"storage.path={tmp_path / 'journal.log'}"],
            "postgres": ["storage=postgres", f"storage.url={postgres_url}"]}[kind]


def load(kind: str, tmp_path: Path, study_name: str, postgres_url: str | None = None) -> optuna.Study:
    where = {"sqlite": lambda: f"sqlite:///{tmp_path / 'study.db'}",
             "journal": lambda: optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "journal.log"))),
             "postgres": lambda: postgres_url}[kind]()
    return optuna.load_study(study_name=study_name, storage=where)


def overrides(folder: Path, tmp_path: Path, study_name: str, *extra: str, n_trials: int = N_TRIALS) -> list[str]:
    return ["data=folder", f"data.root={folder}", f"data.cache_dir={tmp_path / 'cache'}", "data.val_size=24",
            "train=smoke", "train.epochs=4", "train.batch_size=16", "device=cpu", "cpu_threads=1", "logger=none",
            f"study_name={study_name}", "sampler=random", f"n_trials={n_trials}", "search_space.layers=[2,6]",
            "search_space.growth=[4,8,12]", "enqueue_baselines=false", *FAST, *extra]


def start(args: list[str], cwd: Path, name: str) -> subprocess.Popen:
    log = open(cwd / f"{name}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "nas.search", *args], cwd=cwd, stdout=log, stderr=subprocess.STDOUT)


def wait_until_training(load, pid: int, timeout: float = 180) -> int:
    """The number of the trial process ``pid`` is training, once it is training one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            for t in load().get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                record = TrialRecord.of(t)
                if record.status == Status.TRAINING and record.worker.endswith(f":{pid}"):
                    return t.number
        except (KeyError, ValueError):  # the study is not created yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"worker {pid} never started training a trial")


def finish(proc: subprocess.Popen, cwd: Path, name: str, timeout: float = 300) -> str:
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"{name} still running after {timeout:g} s; its log:\n"
                             + (cwd / f"{name}.log").read_text()[-3000:]) from None
    out = (cwd / f"{name}.log").read_text()
    assert proc.returncode == 0, out[-3000:]
    return out
