"""The shape of the code: a declared order of floors that every import follows, no import loop, thin
commands that no module imports, one home for the trial record and for dominance, and the raw config
no lower than the commands."""

import ast
from pathlib import Path

import pytest

from nas.study import record

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {"search", "train", "export", "report", "show", "inspect", "analyze", "proxy_check", "table"}
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


ALIASES = {ROOT / "nas/inspect.py": "nas.show"}  # an old command name: it runs the command it was renamed to


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_command(path):
    commands = {f"nas.{c}" for c in COMMANDS} - {ALIASES.get(path)}
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


# The config a command parses goes no lower: nas/settings.py parses it once into typed settings; cli.py composes
# it (preflight, one-line errors) and runtime.py registers its resolvers.
PARSERS = {"nas/cli.py", "nas/runtime.py", "nas/settings.py"}


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
    assert _imports(path) & {"nas.settings.parse_search", "nas.workers.run_study.run_study"} == {
        "nas.settings.parse_search", "nas.workers.run_study.run_study"}


def test_the_evaluator_is_one_small_interface_and_every_registered_one_has_it():
    import inspect

    from nas.evaluators import EVALUATORS
    from nas.evaluators.interface import Evaluator

    methods = {name for name, _ in inspect.getmembers(Evaluator, inspect.isfunction) if not name.startswith("_")}
    assert methods == {"size", "latencies", "proxies", "train", "setup"}
    for cls in EVALUATORS.values():
        for name in methods:
            assert inspect.signature(getattr(cls, name)).parameters.keys() == \
                inspect.signature(getattr(Evaluator, name)).parameters.keys(), (cls, name)
    loop = [p for p in MODULES if "nas/workers/" in str(p) or "nas/scheduling/" in str(p)]
    assert not any(n.startswith(("nas.tabular", "nas.evaluators.t")) for p in loop for n in _imports(p))  # the seam


def test_dominance_has_one_home():
    """Fronts, rung orders and hypervolumes all rank by nas/pareto/; Optuna's best_trials is not used."""
    names = {"dominates", "front_ranks", "nondominated", "weakly_nondominated", "on_front", "best_trials"}
    found = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name in names and path.name != "dominance.py":
                found.append(f"{path.relative_to(ROOT)}: defines {node.name}")
            if isinstance(node, ast.Attribute) and node.attr == "best_trials":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: Optuna's best_trials")
    assert not found, found


# The floors, from the ground up: a module imports its own folder and the floors below, nothing above.
FLOORS = [
    {"nas.pareto", "nas.genotype", "nas.checks", "nas.files", "nas.section", "nas.runtime"},  # import nothing of ours
    {"nas.models", "nas.scheduling"},
    {"nas.training"},
    {"search_spaces"},
    {"nas.study"},
    {"nas.tabular"},
    {"nas.outputs"},
    {"nas.evaluators"},
    {"nas.workers"},
    {"nas.analysis"},
    {"nas.cli", "nas.settings"},
    {f"nas.{c}" for c in COMMANDS},
]


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _room(module: str) -> tuple[str, int]:
    for floor, rooms in enumerate(FLOORS):
        for room in rooms:
            if module == room or module.startswith(room + "."):
                return room, floor
    raise AssertionError(f"{module} is on no floor: add it to FLOORS and to the README's Code layout")


def _ours(path: Path) -> set[str]:
    """What ``path`` imports of this project (the package nas itself aside): ``from a.b import c`` as
    ``a.b.c`` (the module c, or a name of a.b)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [f"{node.module}.{a.name}" for a in node.names] \
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
        found |= {n for n in names if n.split(".")[0] in ("nas", "search_spaces") and n.rpartition(".")[0] != ""}
    return found


@pytest.mark.parametrize("path", [p for p in MODULES if p != ROOT / "nas/__init__.py" and p not in ALIASES],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_import_keeps_to_the_declared_floors(path):
    room, floor = _room(_module(path))
    for name in _ours(path):
        other, other_floor = _room(name)
        assert other == room or other_floor < floor, f"{room} (floor {floor}) imports {name} (floor {other_floor})"


def test_no_import_loop_between_modules():
    modules = {_module(p): p for p in MODULES if p != ROOT / "nas/__init__.py"}  # its face: genotype, models

    def target(name: str) -> str | None:  # `from nas.x import y`: the module y, or the package x
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {m: {t for n in _ours(p) if (t := target(n)) and t != m} for m, p in modules.items()}
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in graph[m]:
            assert state.get(n) != 1, " -> ".join([*path, m, n])
            if n not in state:
                visit(n, [*path, m])
        state[m] = 2

    for m in modules:
        if m not in state:
            visit(m, [])


def test_the_readme_states_the_declared_order():
    """Its "Code layout" names the floors in this order, ground first, each room as `name` or `name.py`."""
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Code layout"):]
    stated = layout[layout.index("From the ground up"):].split("\n\n")[0]
    places = []
    for rooms in FLOORS[:-1]:
        found = [stated.find(f"`{room.removeprefix('nas.')}") for room in rooms]
        assert min(found) >= 0, (rooms, stated)
        places.append((min(found), max(found)))
    assert all(a[1] < b[0] for a, b in zip(places, places[1:])), places


def test_no_two_modules_share_a_name():
    """A name says which module it is: no two files (commands included) share one."""
    names = [p.name for p in MODULES if p.name != "__init__.py"]
    assert sorted({n for n in names if names.count(n) > 1}) == []
