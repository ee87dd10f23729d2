"""The shape of the code: thin commands that no module imports, and one home for the trial record."""

import ast
from pathlib import Path

import pytest

from nas.study import record

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {"search", "train", "export", "report", "inspect", "analyze", "proxy_check"}
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
