"""The doors of docs/architecture.md, checked on the package's source: only gitops/ and
proc/shim/warden start processes, and the core neither prints nor imports the CLI's libraries."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "genesis_par"
PROCESS_DOORS = ("gitops/", "proc.py", "shim.py", "warden.py", "warden_link.py")
# where printing and Typer/rich belong (fast_cli: the commands answered before Typer loads)
EDGE = ("cli/", "fast_cli.py", "commands/", "report/", "demo/")


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(), str(path))


def _imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def _calls(tree: ast.Module) -> set[str]:
    """Called names as written: `print`, `os.kill`, `subprocess.Popen`."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            found.add(ast.unparse(node.func))
    return found


def test_only_the_process_doors_start_or_signal_processes() -> None:
    offenders = []
    for name, tree in _modules():
        if name.startswith(PROCESS_DOORS):
            continue
        signals = {"os.kill", "os.killpg", "os.fork", "os.execvp", "os.system"} & _calls(tree)
        if "subprocess" in _imports(tree) or signals:
            offenders.append(name)
    assert offenders == []


def test_the_core_never_prints_nor_imports_the_cli_libraries() -> None:
    offenders = []
    for name, tree in _modules():
        if name.startswith(EDGE):
            continue
        if {"typer", "rich"} & _imports(tree) or "print" in _calls(tree):
            offenders.append(name)
    assert offenders == []
