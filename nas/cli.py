"""What the Hydra commands share: one-line errors for bad input, secrets kept off the
record, and SIGTERM handled like Ctrl-C.

Hydra reports a bad override with a multi-line message (or a traceback). Before
handing over, :func:`run_app` parses and composes the command line once itself and
turns what is wrong into one line that names the setting and the fix, then exits
with status 2 — the same as the commands do for bad values found later.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path
from typing import Callable, Iterator, NoReturn

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, HydraException, MissingConfigException, OverrideParseException

from nas.files import check_writable, remove_made
from nas.runtime import startup
from nas.study.settings import check_study_name
from nas.study.storage import hide_password, redact

CONF = Path(__file__).parent / "conf"
EXIT_BAD_INPUT = 2
GROUP_WORDS = {"search_space": "search space", "data": "dataset", "sampler": "sampler", "storage": "storage",
               "logger": "logger", "train": "training budget", "launcher": "launcher"}
PLUGINS = {"hydra/launcher/joblib": "hydra-joblib-launcher",
           "hydra/launcher/submitit_slurm": "hydra-submitit-launcher",
           "hydra/launcher/submitit_local": "hydra-submitit-launcher"}


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


def run_app(hydra_main: Callable[[], None], config_name: str, command: str) -> None:
    """Check the command line, hide a storage password from Hydra's records, then run."""
    startup()
    args = hide_password(sys.argv[1:])
    sys.argv[1:] = args
    if all(a in ("-m", "--multirun") for a in args if a.startswith("-")):  # other flags: Hydra's own business
        try:
            preflight(config_name, [a for a in args if not a.startswith("-")], command)
        except ValueError as e:
            fail(e)
    hydra_main()


def preflight(config_name: str, overrides: list[str], command: str = "python -m nas.search") -> None:
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
        raise ValueError(_composition(e, command)) from None
    except HydraException as e:
        raise ValueError(f"{_first_line(e)}; see `{command} --help`") from None
    if "study_name" in cfg:  # before Hydra makes runs/<study_name>/hydra/
        check_study_name(cfg.study_name)
        check_writable(Path("runs") / cfg.study_name, "run from a folder you can write")
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


def _composition(e: ConfigCompositionException, command: str) -> str:
    text = str(e)
    cause = str(e.__cause__ or "")
    if text.startswith("Could not override '"):
        key = text.split("'")[1]
        if "not in struct" in cause or "Key '" in cause or "No match in the defaults list" in text:
            return (f"unknown setting {key!r}; `{command} --cfg job` lists the settings "
                    f"(+{key}=… adds a new key)")
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
