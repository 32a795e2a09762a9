"""`genesis-par demo`: the tour it prints works as printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from genesis_par.commands.demo import program
from tests.conftest import genesis_env, user_error


def _try_next(stdout: str) -> list[str]:
    """The indented lines under "Try next:"."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Try next")) + 1
    return [line.strip() for line in lines[start:] if line.startswith("  ")]


def test_the_tour_after_the_demo_runs_as_printed(tmp_path: Path) -> None:
    """The README installs into .venv/bin, off PATH: every printed command still runs, in the
    repository the demo kept for it (it used to be removed before the tour)."""
    script = Path(sys.executable).parent / "genesis-par"
    if not script.exists():
        pytest.skip("no genesis-par console script beside this Python")
    env = {**genesis_env(), "PATH": os.pathsep.join(["/usr/local/bin", "/usr/bin", "/bin"])}
    demo = subprocess.run(
        [str(script), "demo", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    # one conflict resolved by a rerun on the other task's work, one left for `resolve`
    assert "resolution greet-loud (rerun, try 1): landed" in demo.stdout
    assert "unmerged fix-legacy: conflicts: calc/legacy.py (modify/delete)" in demo.stdout
    cd, *commands = _try_next(demo.stdout)
    assert any("resolve fix-legacy" in c for c in commands)
    assert cd.startswith("cd ") and len(commands) >= 4
    for command in commands:
        expected = 3 if "exits 3" in command else 0
        done = subprocess.run(
            ["bash", "-c", f"{cd} && {command}"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        assert done.returncode == expected, (command, done.stdout, done.stderr)
        assert "error" not in done.stderr, (command, done.stderr)


def test_the_program_is_named_as_it_can_be_run_again(tmp_path: Path) -> None:
    assert program("/x/lib/genesis_par/__main__.py", "/x/bin/python") == (
        "/x/bin/python -m genesis_par"
    )
    off_path = tmp_path / "venv dir" / "bin" / "genesis-par"
    assert program(str(off_path)) == f"'{off_path}'"


def test_a_dir_it_cannot_make_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """--dir under a file (or a read-only folder): was a traceback and exit 1."""
    (tmp_path / "a-file").write_text("")
    where = tmp_path / "a-file" / "demo"
    assert user_error(["demo", "--dir", str(where)]) == (
        f"error: --dir {where}: cannot make the demo there (Not a directory): give a folder "
        "you can write to"
    )
