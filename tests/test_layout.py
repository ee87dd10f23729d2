"""The shape of the code: thin commands that no module imports, and one home for the trial record."""

import ast
from pathlib import Path

import pytest

from nas.study import record

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {"search", "train", "export", "report", "inspect", "analyze", "proxy_check", "table"}
MODULES = sorted(p for folder in ("nas", "search_spaces") for p in (ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_command(path):
    commands = {f"nas.{c}" for c in COMMANDS}
    assert not _imports(path) & commands


def test_the_record_is_the_only_module_that_spells_statuses_and_keys():
    words = {s.value for s in record.Status} | {record.RECORD, record.BASELINE, record.PRUNED_FROM,
                                                record.CHILD_GENOTYPE}  # the trial's attribute keys
    homes = {ROOT / "nas/study/record.py", ROOT / "nas/training/trainer.py"}  # the trainer owns its outcomes
    found = []
    for path in MODULES:
        if path in homes:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in words:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not found, found


def test_every_library_folder_is_a_package_setuptools_finds():
    from setuptools import find_packages

    found = set(find_packages(str(ROOT), include=["nas*", "search_spaces*"]))
    folders = {str(p.parent.relative_to(ROOT)).replace("/", ".") for p in MODULES}
    assert folders <= found, folders - found  # a non-editable install ships them all


# The config a command parses goes no lower: the search parses Hydra's config once into typed settings.
PARSERS = {"nas/cli.py", "nas/runtime.py", "nas/study/settings.py",
           "nas/training/unit.py",  # data_config / train_config: a group into its dataclass, for three commands
           "nas/analysis/proxy.py"}  # the proxy check's own command library (not on the search's path)


def test_the_raw_config_goes_no_lower_than_the_commands():
    commands = {f"nas/{c}.py" for c in COMMANDS}
    readers = [str(p.relative_to(ROOT)) for p in MODULES
               if str(p.relative_to(ROOT)) not in commands | PARSERS
               and any(n.split(".")[0] in ("omegaconf", "hydra") for n in _imports(p))]
    assert not readers, readers


def test_the_search_command_is_thin():
    path = ROOT / "nas/search.py"
    tree = ast.parse(path.read_text())
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert len(functions) <= 2 and len(path.read_text().splitlines()) < 70
    assert _imports(path) & {"nas.study.settings.parse_search", "nas.study.worker.run_search"} == {
        "nas.study.settings.parse_search", "nas.study.worker.run_search"}


def test_the_evaluator_is_one_small_interface_with_two_implementations():
    import inspect

    from nas.evaluators.base import Evaluator
    from nas.evaluators.table import Replay
    from nas.evaluators.train import Training

    methods = {name for name, _ in inspect.getmembers(Evaluator, inspect.isfunction) if not name.startswith("_")}
    assert methods == {"size", "latencies", "proxies", "train"}
    for cls in (Training, Replay):
        for name in methods:
            assert inspect.signature(getattr(cls, name)).parameters.keys() == \
                inspect.signature(getattr(Evaluator, name)).parameters.keys(), (cls, name)
    study_code = [p for p in MODULES if "nas/study/" in str(p) or "nas/scheduling/" in str(p)]
    assert not any("nas.tabular" in n for p in study_code for n in _imports(p))  # the seam, not a dependency


def test_dominance_has_one_home():
    """Fronts, rung orders and hypervolumes all rank by nas.pareto.dominance; Optuna's best_trials is not used."""
    names = {"dominates", "front_ranks", "nondominated", "weakly_nondominated", "on_front", "best_trials"}
    found = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name in names and path.name != "dominance.py":
                found.append(f"{path.relative_to(ROOT)}: defines {node.name}")
            if isinstance(node, ast.Attribute) and node.attr == "best_trials":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: Optuna's best_trials")
    assert not found, found
