"""The doors of docs/architecture.md, checked on the package's source: only gitops/ and
proc/shim/warden start processes, the core neither prints nor imports the CLI's libraries, and
no two modules import each other (not even from inside a function, or for type checking)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parent.parent / "genesis_par"
PROCESS_DOORS = ("gitops/", "proc.py", "proc_tree.py", "shim.py", "warden.py", "warden_link.py")
# where printing and Typer/rich belong (fast_cli: the commands answered before Typer loads)
EDGE = ("cli.py", "fast_cli.py", "commands/", "report/", "demo/")


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


def import_graph() -> nx.DiGraph[str]:
    """Which module of the package imports which, from any line of it: top level, inside a
    function, under `if TYPE_CHECKING:`."""
    trees = {path: tree for path, tree in _modules()}
    modules = {_module_name(path) for path in trees}
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(modules)
    for path, tree in trees.items():
        name = _module_name(path)
        package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph.add_edges_from((name, m) for m in _imported(package, node, modules))
    return graph


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = import_graph()
    graph.remove_edges_from(nx.selfloop_edges(graph))
    cycles = [" -> ".join([*c, c[0]]) for c in nx.simple_cycles(graph)]
    assert cycles == []


def test_the_import_graph_sees_imports_inside_functions() -> None:
    graph = import_graph()
    assert graph.has_edge("genesis_par.run.backend", "genesis_par.run.ray_backend")  # lazy: Ray
    assert graph.has_edge("genesis_par.cli", "genesis_par.commands.run")
