"""Bad input: one line naming the problem and the fix, exit status 2, no traceback —
the table in README.md, case by case, through the real commands. And secrets: a
password in storage.url appears nowhere in the output, runs/ or the W&B files."""

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from conftest import POSTGRES_PASSWORD
from datasets import write_folder

from nas.genotype.presets import PRESETS
from nas.study.record import STUDY_OBJECTIVES
from nas.study.slots import counted


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("data") / "ds", n_per_class=12, classes=3, size=8)


def _run(module: str, args: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def _search_args(folder: Path, tmp_path: Path) -> list[str]:
    return ["data=folder", f"data.root={folder}", f"data.cache_dir={tmp_path / 'cache'}", "data.val_size=6",
            "train=smoke", "train.batch_size=8", "device=cpu", "logger=none", "study_name=bad",
            "search_space.layers=[2,4]", "search_space.growth=[4,8]", "n_trials=1"]


def _assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "HYDRA_FULL_ERROR" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in last, last
    return last


SEARCH_CASES = {  # id: (overrides, fragments of the message) — README.md's table of bad inputs
    "unknown search space": (["search_space=resnet"],
                             ["unknown search space 'resnet'", "choose one of: cliquenet, dense_connectivity"]),
    "unknown dataset": (["data=imagenet"], ["unknown dataset 'imagenet'", "cifar10", "folder"]),
    "unknown sampler": (["sampler=cmaes"], ["unknown sampler 'cmaes'", "tpe"]),
    "unknown scheduler": (["scheduler=sha"], ["unknown scheduler 'sha'", "asha, hyperband, none"]),
    "a scheduler on a one-epoch budget": (["scheduler=asha"], ["scheduler.max_epochs=1: must be a whole number ≥ 2",
                                                               "train.epochs"]),
    "a scheduler with nothing to rank at rungs": (["scheduler=asha", "train.epochs=3", "objectives=[params,macs]"],
                                                  ["has neither val_accuracy nor val_loss", "scheduler=none"]),
    "cycle ends without rung_cycles": (["train.epochs=4", "train.cycle_ends=[1,3]"],
                                       ["train.cycle_ends=[1, 3] with train.protocol=onecycle: only rung_cycles",
                                        "set train.protocol=rung_cycles or leave cycle_ends null"]),
    "cycle ends under a scheduler": (["scheduler=asha", "train.epochs=4", "train.protocol=rung_cycles",
                                      "train.cycle_ends=[1,2]"],
                                     ["train.cycle_ends=[1, 2] with scheduler=asha", "leave train.cycle_ends null"]),
    "unknown protocol": (["train.protocol=sgdr"], ["train.protocol=sgdr: unknown training protocol; choose one of "
                                                   "onecycle, cosine, rung_cycles, schedule_free, ema"]),
    "the protocol's old name": (["train.schedule=sgdr"], ["train.protocol=sgdr: unknown training protocol"]),
    "unknown storage": (["storage=redis"], ["unknown storage 'redis'", "journal, postgres, sqlite"]),
    "unknown logger": (["logger=tensorboard"], ["unknown logger 'tensorboard'", "none, wandb"]),
    "unknown setting": (["n_trial=5"], ["unknown setting 'n_trial'; did you mean 'n_trials'?", "--cfg job"]),
    "a misspelled section setting": (["search_space.growht=8"], ["did you mean 'search_space.growth'?"]),
    "a setting added with +": (["+n_trial=5"], ["'+n_trial' adds a setting python -m nas.search does not have",
                                                "did you mean 'n_trials'?", "without '+'"]),
    "malformed override": (["n_trials=[1,"], ["malformed override 'n_trials=[1,'"]),
    "value of the wrong type": (["n_trials=many"], ["n_trials=many: must be a whole number ≥ 1"]),
    "n_trials not positive": (["n_trials=0"], ["n_trials=0: must be a whole number ≥ 1"]),
    "unknown objective": (["objectives=[val_accuracy,latency]"], ["unknown objective 'latency'"]),
    "missing dataset folder": (["data.root=/no/such/folder"], ["dataset folder '/no/such/folder' does not exist",
                                                               "set data.root"]),
    "several workers on SQLite": (["worker=1"], ["storage=sqlite is for one worker process", "storage=journal"]),
    "postgres without a URL": (["storage=postgres"], ["storage=postgres needs storage.url=postgresql://"]),
    "wrong database URL": (["storage.url=mysql://u@h/db"], ["is not a sqlite URL", "sqlite:///"]),
    "unreachable database": (["storage=postgres", "storage.url=postgresql://nas:hunter2@127.0.0.1:1/nas"],
                             ["cannot open the study database postgresql://nas@127.0.0.1:1/nas", "Connection refused",
                              "check that the server is running"]),
    "unsatisfiable constraints": (["max_params=100"], ["max_params=100: no genotype", "raise max_params"]),
    "memory fraction out of range": (["train.memory_fraction=2"], ["train.memory_fraction=2", "must be in (0, 1]"]),
    "negative plot interval": (["plot_every=-1"], ["plot_every=-1", "≥ 0"]),
    "study name outside runs/": (["study_name=../../escaped"], ["study_name='../../escaped'", "no '/' or '..'"]),
    "a count that is not a number": (["data.val_size=lots"], ["data.val_size='lots': must be a whole number ≥ 1"]),
    "negative crop padding": (["data.crop_padding=-3"], ["data.crop_padding=-3: must be a whole number ≥ 0"]),
    "an impossible space": (["search_space.compression=[2.0]"], ["search_space.compression=[2.0]: 2.0 must be in (0, 1]"]),
    "an objective twice": (["objectives=[val_accuracy,val_accuracy,params]"],
                           ["objective 'val_accuracy' is given twice", "name each once"]),
    "an image size no memory holds": (["data.image_size=100000"],
                                      ["data.image_size=100000: resizing 36 images to 100000×100000 needs",
                                       "choose a smaller data.image_size"]),
    "a learning rate that is not a number": (["train.lr=abc"], ["train.lr='abc': must be > 0"]),
    "a negative retry count": (["storage.max_retry=-1"], ["storage.max_retry=-1", "a whole number ≥ 0, or null"]),
    "objectives not given as a list": (["objectives=val_accuracy"],
                                       ["objectives=val_accuracy: give a list, e.g. objectives=[val_accuracy]"]),
    "a space range past any network": (["search_space.layers=[2,100000]"],
                                       ["search_space.layers=[2, 100000]", "1 ≤ low ≤ high ≤ 1,000"]),
    "a GPU the worker does not have": (["gpu=3", "device=auto"], ["gpu=3: this worker sees no GPU", "device=cpu"]),
    "W&B online without credentials": (["logger=wandb", "logger.mode=online"],
                                       ["needs W&B credentials", "wandb login", "logger.mode=offline"]),
    "a launcher without -m": (["+launcher=local", "workers=2"], ["a launcher starts its workers as a sweep: add -m"]),
    "a launcher with no workers": (["-m", "+launcher=local", "workers=0"],
                                   ["workers=0: must be a whole number ≥ 1 (how many workers the launcher starts)"]),
    "a launcher told a negative count": (["-m", "+launcher=local", "workers=-2"], ["workers=-2: must be a whole number"]),
    "workers per GPU not a number": (["-m", "+launcher=local", "workers_per_gpu=two"],
                                     ["workers_per_gpu=two: must be a whole number ≥ 1 (workers sharing a GPU)"]),
}


@pytest.mark.parametrize("case", list(SEARCH_CASES))
def test_search_rejects_bad_input_in_one_line(folder, tmp_path, case):
    overrides, fragments = SEARCH_CASES[case]
    env = {"HOME": str(tmp_path), "WANDB_API_KEY": ""}  # no W&B credentials anywhere
    last = _assert_one_line_error(_run("nas.search", [*_search_args(folder, tmp_path), *overrides], tmp_path, env),
                                  *fragments)
    assert "hunter2" not in last


def test_search_rejects_an_empty_class_folder(folder, tmp_path):
    root = write_folder(tmp_path / "ds", n_per_class=4, classes=2, size=8)
    (root / "train" / "class_empty").mkdir()
    args = [*_search_args(folder, tmp_path), f"data.root={root}"]
    _assert_one_line_error(_run("nas.search", args, tmp_path), "class folder", "class_empty", "holds no images")


def test_search_rejects_a_study_with_other_objectives(folder, tmp_path):
    db = tmp_path / "study.db"
    study = optuna.create_study(study_name="bad", storage=f"sqlite:///{db}", directions=["maximize"])
    study.set_user_attr(STUDY_OBJECTIVES, ["val_accuracy"])
    args = [*_search_args(folder, tmp_path), f"storage.url=sqlite:///{db}"]
    _assert_one_line_error(_run("nas.search", args, tmp_path), "study 'bad' exists with objectives ['val_accuracy']",
                           "objectives=[val_accuracy] or choose another study_name")


def test_search_rejects_a_wrong_database_password(folder, tmp_path, postgres_url):
    wrong = postgres_url.replace(POSTGRES_PASSWORD, "not-the-password")
    args = [*_search_args(folder, tmp_path), "storage=postgres", f"storage.url={wrong}"]
    last = _assert_one_line_error(_run("nas.search", args, tmp_path), "password authentication failed")
    assert "not-the-password" not in last


GENOTYPE_CASES = {
    "missing field": (lambda d: d.pop("blocks"), "genotype.blocks: missing required field"),
    "wrong value": (lambda d: d["blocks"][0].update(growth=-3), "blocks[0].growth: -3 must be ≥ 1"),
    "unknown field": (lambda d: d["blocks"][0].update(grwoth=12), "grwoth"),
}


@pytest.mark.parametrize("case", list(GENOTYPE_CASES))
def test_train_rejects_a_bad_genotype_file(folder, tmp_path, case):
    edit, fragment = GENOTYPE_CASES[case]
    data = PRESETS["densenet_bc40_k12"].to_dict()
    edit(data)
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(data))
    args = [f"genotype={tmp_path / 'g.yaml'}", "data=folder", f"data.root={folder}", "device=cpu"]
    _assert_one_line_error(_run("nas.train", args, tmp_path), fragment)


def test_genotype_files_are_parsed_without_executing_anything(folder, tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "g.yaml").write_text(f"!!python/object/apply:os.system ['touch {marker}']\n")
    args = [f"genotype={tmp_path / 'g.yaml'}", "data=folder", f"data.root={folder}", "device=cpu"]
    _assert_one_line_error(_run("nas.train", args, tmp_path), "not valid YAML")
    assert not marker.exists()


def test_train_rejects_an_unknown_preset_and_setting(folder, tmp_path):
    _assert_one_line_error(_run("nas.train", ["genotype=densenet_bc41"], tmp_path),
                           "'densenet_bc41' is neither a preset nor a file")
    _assert_one_line_error(_run("nas.train", ["train.epoch=3"], tmp_path),
                           "unknown setting 'train.epoch'; did you mean 'train.epochs'?")
    _assert_one_line_error(_run("nas.train", ["logger=none"], tmp_path), "unknown setting 'logger'")
    _assert_one_line_error(_run("nas.train", ["seed=abc"], tmp_path), "seed=abc: must be a whole number ≥ 0")
    _assert_one_line_error(_run("nas.train", ["genotype="], tmp_path), "genotype is empty; give a preset")
    assert not (tmp_path / "runs").exists()  # refused commands leave no run folder


def test_a_password_in_the_storage_url_is_never_written(folder, tmp_path, postgres_url):
    args = [*_search_args(folder, tmp_path), "storage=postgres", f"storage.url={postgres_url}", "study_name=secret",
            "logger=wandb", "logger.mode=offline", "n_trials=2"]
    proc = _run("nas.search", args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert POSTGRES_PASSWORD not in proc.stdout + proc.stderr
    runs = tmp_path / "runs"
    files = [p for p in runs.rglob("*") if p.is_file()]
    assert any("wandb" in p.parts for p in files) and any(p.name == "config.yaml" for p in files)
    leaks = [p for p in files if POSTGRES_PASSWORD.encode() in p.read_bytes()]
    assert leaks == []
    study = optuna.load_study(study_name="secret", storage=postgres_url)  # the password did reach the server
    assert len(study.trials) == 2


def test_a_missing_launcher_plugin_says_what_to_install():
    from hydra.errors import MissingConfigException

    from nas.cli import _missing

    e = MissingConfigException("Could not find 'hydra/launcher/joblib'", missing_cfg_file="hydra/launcher/joblib")
    assert _missing(e, "python -m nas.search") == ("joblib launcher is not installed: pip install "
                                                   "hydra-joblib-launcher (or pip install -e '.[launchers]')")


def test_launched_workers_get_the_password_hydra_never_sees(folder, tmp_path, postgres_url):
    args = [a for a in _search_args(folder, tmp_path) if not a.startswith(("study_name=", "n_trials="))]
    proc = subprocess.run([sys.executable, "-m", "nas.search", "-m", "+launcher=local", "workers=2", *args,
                           "storage=postgres", f"storage.url={postgres_url}", "study_name=launched", "n_trials=2"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]  # both workers reached the server with the password
    assert POSTGRES_PASSWORD not in proc.stdout + proc.stderr
    files = [p for p in (tmp_path / "runs").rglob("*") if p.is_file()]
    assert any(p.name == "multirun.yaml" for p in files)
    assert [p for p in files if POSTGRES_PASSWORD.encode() in p.read_bytes()] == []
    assert proc.stderr.count("study 'launched' in postgresql://nas@127.0.0.1") == 2  # each worker opened it
    assert len(counted(optuna.load_study(study_name="launched", storage=postgres_url).trials)) == 2


def test_a_study_name_that_leaves_runs_writes_nothing_anywhere(folder, tmp_path):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    before = sorted(p for p in tmp_path.rglob("*"))
    _assert_one_line_error(_run("nas.search", [*_search_args(folder, tmp_path), "study_name=../../escaped"], work),
                           "study_name='../../escaped'")
    assert sorted(p for p in tmp_path.rglob("*")) == before  # no study, no hydra/ folder, inside or out


def test_a_resume_on_other_data_is_refused_in_one_line(folder, tmp_path):
    args = _search_args(folder, tmp_path)
    first = _run("nas.search", args, tmp_path)
    assert first.returncode == 0, first.stderr
    _assert_one_line_error(_run("nas.search", [*args, "n_trials=2", "data.val_size=9"], tmp_path),
                           "study 'bad' was run with val_size=6, not 9", "another study_name")


@pytest.mark.parametrize("bad", ["text named .png", "truncated JPEG"])
def test_an_unreadable_image_is_named_and_nothing_is_left_behind(tmp_path, bad):
    from PIL import Image

    root = write_folder(tmp_path / "ds", n_per_class=4, classes=2, size=8)
    if bad == "text named .png":
        broken = root / "train" / "class_1" / "notes.png"
        broken.write_text("this is not an image")
    else:
        broken = root / "train" / "class_0" / "photo.jpg"
        Image.effect_noise((64, 64), 60).convert("RGB").save(broken, quality=95)
        broken.write_bytes(broken.read_bytes()[:600])  # cut off mid-scan
    work = tmp_path / "work"
    work.mkdir()
    args = [*_search_args(root, tmp_path), f"data.root={root}"]
    _assert_one_line_error(_run("nas.search", args, work), "cannot be read", str(broken), "remove it")
    assert list(work.iterdir()) == []  # no runs/<study>/study.db, no hydra/ folder


def test_an_output_folder_that_cannot_be_made_is_one_line(folder, tmp_path):
    (tmp_path / "runs").write_text("a file where runs/ should be")
    _assert_one_line_error(_run("nas.search", _search_args(folder, tmp_path), tmp_path),
                           "cannot make 'runs/bad'", "'runs' is a file, not a folder")
    _assert_one_line_error(_run("nas.train", ["genotype=densenet_bc40_k12", "data=folder", f"data.root={folder}"],
                                tmp_path), "'runs' is a file, not a folder")
    _assert_one_line_error(_run("nas.train", ["genotype=densenet_bc40_k12", "hydra.run.dir=/proc/nas/run"], tmp_path),
                           "cannot make '/proc/nas/run': '/proc' is not writable", "point hydra.run.dir at one")


@pytest.mark.parametrize("storage, fragments", [
    (["storage=journal", "storage.path=/proc/nas/journal.log"],
     ["storage.path='/proc/nas/journal.log': cannot make '/proc/nas': '/proc' is not writable",
      "choose a path you can write, or leave storage.path out for runs/<study>/journal.log"]),
    (["storage.url=sqlite:////proc/nas/study.db"],
     ["storage.url='sqlite:////proc/nas/study.db': cannot make '/proc/nas': '/proc' is not writable",
      "choose a path you can write, or leave storage.url out for sqlite:///runs/<study>/study.db"]),
    (["storage.url=sqlite:///notes.txt/study.db"],
     ["storage.url='sqlite:///notes.txt/study.db': cannot make 'notes.txt': 'notes.txt' is a file, not a folder"]),
], ids=["journal in /proc", "sqlite in /proc", "sqlite under a file"])
def test_a_storage_that_cannot_be_written_is_refused_before_the_data(folder, tmp_path, storage, fragments):
    """/proc: root passes every permission test there, yet can make nothing in it."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("a file where a folder should be")
    _assert_one_line_error(_run("nas.search", [*_search_args(folder, tmp_path), *storage], work), *fragments)
    assert [p.name for p in work.iterdir()] == ["notes.txt"]  # no runs/bad/, no hydra/ folder
    assert not (tmp_path / "cache").exists()  # refused before the data was prepared


def test_a_data_cache_that_cannot_be_written_is_refused_in_one_line(folder, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    args = [a for a in _search_args(folder, tmp_path) if not a.startswith("data.cache_dir=")]
    _assert_one_line_error(_run("nas.search", [*args, "data.cache_dir=/proc/nas/cache"], work),
                           "data.cache_dir=/proc/nas/cache: cannot make '/proc/nas/cache'", "'/proc' is not writable",
                           "set data.cache_dir to a folder you can write")
    assert list(work.iterdir()) == []  # no runs/bad/
    _assert_one_line_error(_run("nas.train", ["genotype=densenet_bc40_k12", "data=folder", f"data.root={folder}",
                                              "data.cache_dir=/proc/nas/cache"], work), "data.cache_dir=/proc/nas/cache")


@pytest.fixture(scope="module")
def study(folder, tmp_path_factory):
    """A finished one-trial search, runs/bad/, and its trial exported as model.yaml with its weights, model.pt."""
    work = tmp_path_factory.mktemp("study")
    proc = _run("nas.search", _search_args(folder, work), work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = _run("nas.export", ["runs/bad", "--out", str(work / "model.yaml")], work)
    assert proc.returncode == 0 and (work / "model.pt").is_file(), proc.stderr[-3000:]
    return work


def _output_cases(study: Path) -> dict[str, tuple[str, list[str], list[str]]]:
    runs, model = str(study / "runs" / "bad"), [str(study / "model.yaml"), "--checkpoint", str(study / "model.pt")]
    proc_fragments = ["cannot make '/proc/nas", "'/proc' is not writable (", "give --out a"]
    return {  # id: (command, arguments, fragments of the message)
        "export into /proc": ("nas.export", [runs, "--out", "/proc/nas/model.yaml"], proc_fragments),
        "export under a file": ("nas.export", [runs, "--out", "notes.txt/model.yaml"],
                                ["cannot make 'notes.txt': 'notes.txt' is a file, not a folder",
                                 "give --out a path you can write"]),
        "export onto a folder": ("nas.export", [runs, "--out", "folder.yaml"],
                                 ["'folder.yaml' is a folder, not a file", "give --out a path you can write"]),
        "report into /proc": ("nas.report", [runs, "--out", "/proc/nas/report"], proc_fragments),
        "report under a file": ("nas.report", [runs, "--out", "notes.txt/report"],
                                ["cannot make 'notes.txt/report': 'notes.txt' is a file, not a folder",
                                 "give --out a folder you can write"]),
        "analyze into /proc": ("nas.analyze", [*model, "--out", "/proc/nas/heatmap.png"], proc_fragments),
        "analyze to no picture": ("nas.analyze", [*model, "--out", "heatmap"],
                                  ["--out heatmap: name the picture .png", "beside it as heatmap.json"]),
    }


@pytest.mark.parametrize("case", list(_output_cases(Path())))
def test_an_output_that_cannot_be_written_is_one_line(study, tmp_path, case):
    command, args, fragments = _output_cases(study)[case]
    (tmp_path / "notes.txt").write_text("a file where a folder should be")
    (tmp_path / "folder.yaml").mkdir()
    _assert_one_line_error(_run(command, args, tmp_path), *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.yaml", "notes.txt"]
    assert list((tmp_path / "folder.yaml").iterdir()) == []


def _reader_gone(module: str, args: list[str], cwd: Path, unbuffered: bool) -> subprocess.CompletedProcess:
    """Run a command into a pipe whose reader has left, as ``| head -1`` leaves a command still printing.
    The reader closes before the command prints anything (it takes a second to start): closing after
    its first line would race the command's remaining prints, which may all be in the pipe by then."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**env, **({"PYTHONUNBUFFERED": "1"} if unbuffered else {})})
    proc.stdout.close()
    stderr = proc.stderr.read()
    return subprocess.CompletedProcess(proc.args, proc.wait(timeout=300), "", stderr)


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("command", ["nas.show", "nas.export", "nas.train"])
def test_a_reader_that_leaves_early_ends_the_command_quietly(folder, study, tmp_path, command, unbuffered):
    """Unbuffered, nas.train prints inside its Hydra job, where Hydra would report the broken pipe itself."""
    args = {"nas.show": ["densenet_bc40_k12"],
            "nas.export": [str(study / "runs" / "bad"), "--out", "model.yaml"],
            "nas.train": ["genotype=densenet_bc40_k12", "data=folder", f"data.root={folder}", "data.val_size=6",
                          "train=smoke", "train.batch_size=8", "device=cpu"]}[command]
    proc = _reader_gone(command, args, tmp_path, unbuffered)
    assert proc.returncode == 141, proc.stderr  # 128 + SIGPIPE, as a shell reports a Unix tool whose reader left
    for noise in ("Traceback", "BrokenPipeError", "Broken pipe", "Exception ignored"):
        assert noise not in proc.stderr, proc.stderr


def test_an_ema_study_from_before_its_half_life_followed_the_learning_rate_says_how_to_resume(folder, tmp_path):
    import optuna

    args = [*_search_args(folder, tmp_path), "train.protocol=ema", "train.epochs=2", "train.stop_at_chance=false"]
    first = _run("nas.search", args, tmp_path)
    assert first.returncode == 0, first.stderr
    study = optuna.load_study(study_name="bad", storage=f"sqlite:///{tmp_path / 'runs' / 'bad' / 'study.db'}")
    setup = study.user_attrs["setup"]
    del setup["train"]["ema_follows_lr"]  # as such a study recorded it
    study.set_user_attr("setup", setup)
    _assert_one_line_error(_run("nas.search", [*args, "n_trials=2"], tmp_path),
                           "train.ema_follows_lr=False, not True", "resume it with train.ema_follows_lr=False")
    again = _run("nas.search", [*args, "n_trials=2", "train.ema_follows_lr=False"], tmp_path)
    assert again.returncode == 0, again.stderr


def test_seed_noise_from_a_table_without_repeats_is_refused_in_one_line(tmp_path):
    from tables import synthetic_table

    synthetic_table(tmp_path / "once.json", replicas=0)
    _assert_one_line_error(_run("nas.search", ["search_space=dense_grid", "evaluator=table",
                                               f"evaluator.table={tmp_path / 'once.json'}", "logger=none"], tmp_path),
                           "evaluator.noise=true: evaluator=table has 0 genotypes trained twice", "evaluator.noise=false")
