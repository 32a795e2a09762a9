"""The doors of docs/architecture.md, checked on the package's source: only gitops/ and
proc/shim/warden start processes, the core neither prints nor imports the CLI's libraries, and
no two modules import each other (not even from inside a function, or for type checking)."""

from __future__ import annotations

import ast
import functools
from collections import deque
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "genesis_par"
PROCESS_DOORS = ("gitops/", "proc.py", "proc_tree.py", "shim.py", "warden.py", "warden_link.py")
# where printing and Typer/rich belong (fast_cli: the commands answered before Typer loads)
EDGE = ("cli/", "fast_cli.py", "commands/", "report/", "demo/")


@functools.cache
def _modules() -> tuple[tuple[str, ast.Module], ...]:
    """Each module of the package, parsed once for all the tests here."""
    return tuple(
        (path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(), str(path)))
        for path in sorted(PACKAGE.rglob("*.py"))
    )


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


def test_the_core_keeps_records_and_leaves_their_json_to_report() -> None:
    """The run flow, the landing and the store hand typed records to report/, which makes the
    JSON users see (docs/json.md): none of them imports a renderer (report.words' plural is
    plain text, not a view)."""
    offenders = []
    for name, tree in _modules():
        if name.startswith((*EDGE, "api.py")):
            continue
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        views = {m for m in modules if m and m.startswith("genesis_par.report")}
        offenders += [f"{name}: {m}" for m in sorted(views - {"genesis_par.report.words"})]
    assert offenders == []


def _module_name(path: str) -> str:
    """genesis_par.land.queue for land/queue.py; genesis_par.plan for plan/__init__.py."""
    parts = ["genesis_par", *Path(path).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(package: str, node: ast.Import | ast.ImportFrom, modules: set[str]) -> set[str]:
    """The package's modules an import statement in package loads by name (a package's
    __init__ run on the way is not counted: it is not what the importer asked for)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names} & modules
    base = node.module or ""
    if node.level:  # relative: from the importer's package, one level up per extra dot
        parts = package.split(".")
        base = ".".join([*parts[: len(parts) - node.level + 1], *filter(None, [base])])
    found = {f"{base}.{a.name}" for a in node.names} & modules
    return found or ({base} & modules)


def import_graph() -> dict[str, set[str]]:
    """Which modules of the package each one imports, from any line of it: top level, inside a
    function, under `if TYPE_CHECKING:`."""
    trees = dict(_modules())
    modules = {_module_name(path) for path in trees}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for path, tree in trees.items():
        name = _module_name(path)
        package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[name] |= _imported(package, node, modules) - {name}
    return graph


def _path(graph: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """The shortest chain of imports from start to goal, if there is one."""
    came_from: dict[str, str | None] = {start: None}
    todo = deque([start])
    while todo:
        node = todo.popleft()
        if node == goal:
            path = [node]
            while (before := came_from[path[-1]]) is not None:
                path.append(before)
            return path[::-1]
        for other in sorted(graph[node] - came_from.keys()):
            came_from[other] = node
            todo.append(other)
    return None


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = import_graph()
    cycles = set()
    for module, imported in graph.items():
        for other in imported:
            back = _path(graph, other, module)
            if back is not None:
                cycles.add(" -> ".join([module, *back]))
    assert sorted(cycles) == []


def test_the_import_graph_sees_imports_inside_functions() -> None:
    graph = import_graph()
    assert "genesis_par.run.ray_backend" in graph["genesis_par.run.backend"]  # lazy: Ray
    assert "genesis_par.commands.run" in graph["genesis_par.cli.run_commands"]


def test_no_test_module_imports_another_test_module() -> None:
    """Shared test helpers live in conftest.py and the fixtures modules (helpers.py, plans.py,
    ...): a test module imported by another runs its tests' module-level code twice and ties
    unrelated tests together."""
    tests = Path(__file__).resolve().parent
    found = [
        f"{path.relative_to(tests)} imports {name}"
        for path in sorted(tests.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        for name in _imported_modules(node)
        if name.rsplit(".", 1)[-1].startswith("test_")
    ]
    assert found == []


def _imported_modules(node: ast.AST) -> list[str]:
    """The full names of the modules an import statement names (`from a import b`: a and a.b)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        return [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    return []
