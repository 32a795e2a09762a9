from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from genesis_par import __version__
from tests.conftest import branch, genesis_cmd, genesis_env


def test_version_and_help_in_a_subprocess() -> None:
    out = subprocess.run(
        [*genesis_cmd(), "--version"], capture_output=True, text=True, env=genesis_env()
    )
    assert out.returncode == 0
    assert out.stdout.strip() == f"genesis-par {__version__}"
    out = subprocess.run(
        [*genesis_cmd(), "--help"], capture_output=True, text=True, env=genesis_env()
    )
    assert out.returncode == 0
    assert "Usage" in out.stdout


def test_unknown_option_is_a_usage_error() -> None:
    out = subprocess.run(
        [*genesis_cmd(), "--no-such-option"], capture_output=True, text=True, env=genesis_env()
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr


def test_an_error_under_json_still_prints_one_object(tmp_path: Path) -> None:
    """A CI step parsing stdout gets an object naming the error, not an empty string."""
    out = subprocess.run(
        [*genesis_cmd(), "run", str(tmp_path / "plan.toml"), "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=genesis_env(),
    )
    assert out.returncode in (2, 4)
    obj = json.loads(out.stdout)
    assert obj["ok"] is False and obj["exit_code"] == out.returncode and obj["error"]
    assert "Traceback" not in out.stderr and obj["error"] in out.stderr


def _command_paths() -> list[list[str]]:
    """Every command and subcommand of the app, as the argv words that reach it."""
    import typer.main

    from genesis_par.cli import app

    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_help_shows_no_value_after_a_flag() -> None:
    """`--json`, `--force`, `--help`: flags take no value, so help shows none (was `<bool>`)."""
    from typer.testing import CliRunner

    from genesis_par.cli import app

    paths = _command_paths()
    assert ["worktrees", "gc"] in paths and ["run"] in paths
    for path in paths:
        result = CliRunner().invoke(app, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "<bool>" not in result.output, (path, result.output)
        assert "--help" in result.output


def test_version_imports_no_command_line_app() -> None:
    """`--version` answers before Typer, rich and pydantic are imported, and before any module
    of ours but the quick parser (issue 19: start-up)."""
    code = (
        "import runpy, sys\n"
        "sys.argv = ['genesis-par', '--version']\n"
        "try:\n"
        "    runpy.run_module('genesis_par', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = [m for m in ('typer', 'rich', 'pydantic', 'click') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "ours = {m for m in sys.modules if m.startswith('genesis_par')}\n"
        "assert ours <= {'genesis_par', 'genesis_par.__main__', 'genesis_par.fast_cli'}, ours"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=genesis_env()
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"genesis-par {__version__}\n"


THROUGH_TYPER = [sys.executable, "-c", "from genesis_par.cli import main; main()"]


@pytest.mark.parametrize(
    "args",
    [
        ["conflicts", "t1", "t2", "--into", "main"],
        ["conflicts", "--json", "--into=main", "t1", "t2"],
        ["conflicts", "t1", "--json"],
        ["conflicts", "t1", "nosuch", "--json"],
        ["conflicts", "--run", "nosuch"],
        ["conflicts", "t1", "--into"],  # a mistake: the app says it
    ],
)
def test_conflicts_answers_as_the_app_does_without_importing_it(
    repo: Path, args: list[str]
) -> None:
    """`conflicts` is parsed without Typer (issue 19: start-up), and what it prints and
    returns is the app's, word for word; what the quick parser does not take goes to the app."""
    branch(repo, "t1", {"f.txt": "one\n"})
    branch(repo, "t2", {"f.txt": "two\n"})
    quick = subprocess.run(
        [*genesis_cmd(), *args], cwd=repo, capture_output=True, text=True, env=genesis_env()
    )
    app = subprocess.run(
        [*THROUGH_TYPER, *args], cwd=repo, capture_output=True, text=True, env=genesis_env()
    )
    assert (quick.returncode, quick.stdout, quick.stderr) == (
        app.returncode,
        app.stdout,
        app.stderr.replace(" -c ", " python -m genesis_par "),  # the app's own name in usage
    )


NOT_FOR_CONFLICTS = (
    *("typer", "pydantic", "click", "networkx", "rich", "tomllib", "sqlite3", "psutil"),
    *("genesis_par.land.queue", "genesis_par.land.landing", "genesis_par.plan.parse"),
    *("genesis_par.gitops.guard", "genesis_par.gitops.worktree", "genesis_par.worktrees"),
)


def test_plain_conflicts_imports_no_command_line_app(repo: Path) -> None:
    """Nor the merge queue, the plan parser, the run store, the fence around agents (issue 19:
    start-up): the command CI scripts call in loops loads what it runs."""
    branch(repo, "t1", {"f.txt": "one\n"})
    code = (
        "import runpy, sys\n"
        "sys.argv = ['genesis-par', 'conflicts', '--json', 't1']\n"
        "try:\n"
        "    runpy.run_module('genesis_par', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        f"loaded = [m for m in {NOT_FOR_CONFLICTS} if m in sys.modules]\n"
        "assert not loaded, loaded"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, env=genesis_env()
    )
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["run", "missing.toml"],
        ["run", "plan.toml", "--isolation", "bogus"],
        ["run", "--json", "--backend=nope", "plan.toml"],
        ["run", "plan.toml", "--name", "two words", "--no-merge"],
        ["run", "plan.toml", "--into"],  # mistakes: the app says them
        ["run", "plan.toml", "other.toml"],
        ["run", "plan.toml", "--no-such-option"],
    ],
)
def test_run_answers_as_the_app_does_without_importing_it(repo: Path, args: list[str]) -> None:
    """`run` is parsed without Typer (issue 19: start-up); what it says and returns is the
    app's, word for word; what the quick parser does not take goes to the app."""
    (repo / "plan.toml").write_text('version = 1\n[[tasks]]\nid = "a"\ncommand = "true"\n')
    where = {"cwd": repo, "capture_output": True, "text": True, "env": genesis_env()}
    quick = subprocess.run([*genesis_cmd(), *args], **where)  # type: ignore[call-overload]
    app = subprocess.run([*THROUGH_TYPER, *args], **where)  # type: ignore[call-overload]
    assert quick.returncode == 2
    named = app.stderr.replace(" -c ", " python -m genesis_par ")  # the app's own name in usage
    assert (quick.returncode, quick.stdout, quick.stderr) == (
        app.returncode,
        app.stdout,
        named.replace("'-c ", "'python -m genesis_par "),
    )
    assert not (repo / ".git" / "genesis-par").exists()  # refused before anything started


def test_a_plain_run_imports_no_command_line_app(repo: Path) -> None:
    """A run started with the plain options works without Typer ever being imported."""
    plan = repo.parent / "plan.toml"
    plan.write_text('version = 1\n[[tasks]]\nid = "a"\ncommand = "echo hi > a.txt"\n')
    code = (
        "import json, runpy, sys\n"
        f"sys.argv = ['genesis-par', 'run', {str(plan)!r}, '--name=quick', '--json']\n"
        "try:\n"
        "    runpy.run_module('genesis_par', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "loaded = [m for m in ('typer', 'click', 'pydantic') if m in sys.modules]\n"
        "assert not loaded, loaded"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, env=genesis_env()
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["run"] == "quick" and result["status"] == "succeeded"
    assert [t["status"] for t in result["tasks"]] == ["succeeded"]


@pytest.mark.parametrize("command", ["run", "validate"])
def test_collection_is_back_on_once_the_command_runs(
    repo: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """The entry point turns garbage collection off while the command's modules load; the
    command itself (the fast path's `run`, the app's `validate`) runs with it on."""
    import gc

    from genesis_par import __main__ as entry
    from genesis_par.commands import run as run_cmd
    from genesis_par.commands import validate as validate_cmd
    from tests.plans import py, write_plan

    plan = write_plan(repo, f'[[tasks]]\nid = "a"\ncommand = {py("pass")}\n')
    seen: list[bool] = []
    module = run_cmd if command == "run" else validate_cmd
    name = "run"
    real = getattr(module, name)

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    monkeypatch.chdir(repo)
    monkeypatch.setattr(sys, "argv", ["genesis-par", command, str(plan)])
    try:
        with pytest.raises(SystemExit):
            entry.main()
    finally:
        gc.enable()
        gc.unfreeze()
    assert seen == [True]
