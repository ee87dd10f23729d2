"""What the commands share: one entry point that exits quietly when the reader of the
output leaves (``| head``); and, for the Hydra commands, one-line errors for bad input,
secrets kept off the record, and SIGTERM handled like Ctrl-C.

Hydra reports a bad override with a multi-line message (or a traceback). Before
handing over, :func:`run_app` parses and composes the command line once itself and
turns what is wrong into one line that names the setting and the fix, then exits
with status 2 — the same as the commands do for bad values found later.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import os
import select
import signal
import sys
from pathlib import Path
from typing import Callable, Iterator, NoReturn, ParamSpec, TextIO, TypeVar

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, HydraException, MissingConfigException, OverrideParseException

from nas.checks import require, whole
from nas.files import check_study_name, check_writable, remove_made, study_dir
from nas.runtime import startup
from nas.study.storage import hide_password, redact

CONF = Path(__file__).parent / "conf"
EXIT_BAD_INPUT = 2
EXIT_READER_LEFT = 128 + getattr(signal, "SIGPIPE", 13)  # 141: what a shell reports when a tool's reader left
GROUP_WORDS = {"search_space": "search space", "data": "dataset", "sampler": "sampler", "storage": "storage",
               "logger": "logger", "train": "training budget", "launcher": "launcher"}
PLUGINS = {"hydra/launcher/joblib": "hydra-joblib-launcher",
           "hydra/launcher/submitit_slurm": "hydra-submitit-launcher",
           "hydra/launcher/submitit_local": "hydra-submitit-launcher"}
P = ParamSpec("P")
R = TypeVar("R")


def fail(error: BaseException | str) -> NoReturn:
    print(f"error: {redact(str(error))}", file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def fail_job(error: BaseException | str) -> NoReturn:
    """:func:`fail` from inside a Hydra job, after removing what Hydra wrote for it (``.hydra/``, the
    job's log) and the folders that leaves empty: a command refused for bad input leaves nothing behind."""
    hydra_cfg = HydraConfig.get()
    remove_made(Path(hydra_cfg.runtime.output_dir), [hydra_cfg.output_subdir or ".hydra", f"{hydra_cfg.job.name}.log"],
                Path.cwd())
    fail(error)


def run_command(main: Callable[[], int | None]) -> NoReturn:
    """The entry point of the argparse commands: run ``main`` and exit with its status."""
    sys.exit(quiet_on_broken_pipe(main)())


def quiet_on_broken_pipe(command: Callable[P, R]) -> Callable[P, R]:
    """``command``, ending quietly, as a Unix tool ends, when the reader of its output leaves early
    (``| head -3``, ``| grep -m1``). Python ignores SIGPIPE, so a write raises BrokenPipeError
    instead; the broken stream is then pointed at devnull, so that the interpreter's last flush
    does not raise it again. A broken pipe of the command's own (a worker's, a socket) is a
    failure, not a reader that left: it is raised.

    Hydra reports whatever its job raises, this too: a Hydra job's function is wrapped as well
    (``@quiet_on_broken_pipe`` under ``@hydra.main``).
    """
    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = command(*args, **kwargs)
            sys.stdout.flush()  # here, not at exit: output still buffered meets the closed pipe in this block
            return result
        except BrokenPipeError:
            broken = [stream for stream in (sys.stdout, sys.stderr) if _reader_left(stream)]
            if not broken:
                raise
            devnull = os.open(os.devnull, os.O_WRONLY)
            for stream in broken:
                os.dup2(devnull, stream.fileno())
            sys.exit(EXIT_READER_LEFT)

    return run


def _reader_left(stream: TextIO) -> bool:
    """Whether ``stream`` is a pipe whose reader has closed it: poll reports an error on its writing end."""
    try:
        poll = select.poll()
        poll.register(stream.fileno(), 0)  # an error is reported whatever is asked for
        return any(events & select.POLLERR for _, events in poll.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), no file descriptor (a test's capture)
        return False


def run_app(hydra_main: Callable[[], None], config_name: str, command: str) -> None:
    """Check the command line, hide a storage password from Hydra's records, then run."""
    startup()
    args = hide_password(sys.argv[1:])
    sys.argv[1:] = args
    if all(a in ("-m", "--multirun") for a in args if a.startswith("-")):  # other flags: Hydra's own business
        try:
            preflight(config_name, [a for a in args if not a.startswith("-")], command,
                      multirun=any(a in ("-m", "--multirun") for a in args))
        except ValueError as e:
            fail(e)
    quiet_on_broken_pipe(hydra_main)()


def preflight(config_name: str, overrides: list[str], command: str = "python -m nas.search",
              multirun: bool = False) -> None:
    """Raise ``ValueError`` with a one-line message for an override Hydra would reject.

    Sweeps (``worker=0,1`` or ``range(4)``) are checked with their first value.
    """
    parser = OverridesParser.create()
    single = []
    for text in overrides:
        try:
            (override,) = parser.parse_overrides([text])
        except OverrideParseException as e:
            raise ValueError(f"malformed override {text!r} ({_first_line(e)}); write key=value, "
                             "quoting lists and spaces for the shell: 'key=[a,b]'") from None
        key = override.key_or_group
        if override.is_add() and not key.startswith("hydra") \
                and not (CONF / key.split("@")[0]).is_dir():  # +group=option selects a group; +key=value adds a key
            near = _nearest(key, config_name)
            raise ValueError(f"'+{key}' adds a setting {command} does not have, which nothing would read; "
                             + (f"did you mean {near!r}? " if near else "") + "a setting is changed without '+'")
        if override.is_sweep_override():
            first = next(iter(override.sweep_string_iterator()), None)
            if first is None:
                raise ValueError(f"override {text!r} sweeps over no values")
            text = f"{override.get_key_element()}={first}"
        single.append(text)
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=single, return_hydra_config=True)
    except MissingConfigException as e:
        raise ValueError(_missing(e, command)) from None
    except ConfigCompositionException as e:
        raise ValueError(_composition(e, command, config_name)) from None
    except HydraException as e:
        raise ValueError(f"{_first_line(e)}; see `{command} --help`") from None
    for key in ("workers", "workers_per_gpu"):  # a launcher's (conf/launcher/): Hydra would fail on them mid-sweep
        if key in cfg:
            require(key, cfg[key], whole(1), show=str,
                    hint=" (how many workers the launcher starts)" if key == "workers" else " (workers sharing a GPU)")
    if "workers" in cfg and not multirun:  # without -m Hydra runs the one job: a single worker, launcher unused
        raise ValueError(f"a launcher starts its workers as a sweep: add -m, e.g. {command} -m +launcher=local "
                         f"workers={cfg.workers} …")
    if "study_name" in cfg:  # before Hydra makes runs/<study_name>/hydra/
        check_study_name(cfg.study_name)
        check_writable(study_dir(cfg.study_name), "run from a folder you can write")
    check_writable(Path(cfg.hydra.run.dir), "run from a folder you can write, or point hydra.run.dir at one")


def _first_line(e: BaseException) -> str:
    return str(getattr(e, "message", None) or e).strip().splitlines()[0]


def _missing(e: MissingConfigException, command: str) -> str:
    missing = (e.missing_cfg_file or "").removesuffix(".yaml")
    if missing in PLUGINS:
        return (f"{missing.rsplit('/', 1)[1]} launcher is not installed: pip install {PLUGINS[missing]} "
                "(or pip install -e '.[launchers]')")
    group, _, value = missing.rpartition("/")
    if group and e.options:
        word = GROUP_WORDS.get(group, group)
        return f"unknown {word} {value!r} ({group}={value}); choose one of: {', '.join(sorted(e.options))}"
    return f"{_first_line(e)}; `{command} --info defaults` lists the config groups"


def _nearest(key: str, config_name: str) -> str | None:
    """The setting a misspelled ``key`` most likely means (dotted: among its section's settings), if any."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=config_name)
    *parents, last = key.split(".")
    for part in parents:
        cfg = cfg.get(part) if hasattr(cfg, "get") else None
        if cfg is None or not hasattr(cfg, "keys"):
            return None
    near = difflib.get_close_matches(last, [str(k) for k in cfg.keys()], n=1, cutoff=0.6)
    return ".".join([*parents, near[0]]) if near else None


def _composition(e: ConfigCompositionException, command: str, config_name: str) -> str:
    text = str(e)
    cause = str(e.__cause__ or "")
    if text.startswith("Could not override '"):
        key = text.split("'")[1]
        if "not in struct" in cause or "Key '" in cause or "No match in the defaults list" in text:
            near = _nearest(key, config_name)
            return (f"unknown setting {key!r}; " + (f"did you mean {near!r}? " if near else "")
                    + f"`{command} --cfg job` lists the settings")
    if text.startswith("Could not append to config"):
        key = text.split("'")[1] if "'" in text else "?"
        return f"{key!r} is already a setting; drop the '+' to change it"
    return f"{_first_line(e)} {_first_line(e.__cause__) if e.__cause__ else ''}".strip()


class StopRequest:
    """Set once SIGTERM arrived. The first SIGTERM also raises KeyboardInterrupt, to stop the
    running trial at once; if Python swallows that (it can land in a garbage-collector
    callback), the search still stops at its next check of :attr:`requested`."""

    requested = False

    def __call__(self, signum, frame) -> None:
        if not self.requested:
            self.requested = True
            raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[StopRequest]:
    """SIGTERM (a cluster's pre-emption, ``kill``) stops the command like Ctrl-C, so the
    running trial is handed back at once instead of waiting for its heartbeat to go stale."""
    stop = StopRequest()
    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (a launcher's worker thread): leave it alone
        yield stop
        return
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)
