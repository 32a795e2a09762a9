"""`status`, `runs` and `logs`: what is and was running, read back from the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from genesis_par.cli import app
from genesis_par.commands import run as run_cmd
from genesis_par.errors import UsageError
from tests.commands.test_run import py, write_plan

runner = CliRunner()


def _finished_run(
    repo: Path, name: str, capsys: pytest.CaptureFixture[str], check: bool = True
) -> None:
    """A run whose task `talk` prints a line, merged under a check that prints one too."""
    checker = py("print('the merge check looked at it')")
    merge = f"[merge]\ncheck = {checker}" if check else ""
    plan = write_plan(
        repo,
        f"""
        {merge}

        [[tasks]]
        id = "talk"
        command = {py(f"print('talk of {name}'); open('t.txt', 'w').write('{name}')")}
    """,
        name=f"{name}.toml",
        header=f'[run]\nname = "{name}"\n',
    )
    assert run_cmd.run(repo, plan, as_json=True) == 0
    capsys.readouterr()


def _usage_error(argv: list[str]) -> str:
    """The message of the UsageError argv ends with (main() prints it and exits 2)."""
    result = runner.invoke(app, argv)
    assert isinstance(result.exception, UsageError), (result.output, result.exception)
    return str(result.exception)


def test_logs_reads_the_latest_run_without_a_run_name(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`logs TASK` like `status` and `report`; `logs RUN TASK` still names an older run."""
    _finished_run(repo, "older", capsys)
    _finished_run(repo, "newer", capsys)
    monkeypatch.chdir(repo)
    latest = runner.invoke(app, ["logs", "talk"])
    assert latest.exit_code == 0, latest.output
    assert "talk of newer" in latest.output
    named = runner.invoke(app, ["logs", "older", "talk"])
    assert named.exit_code == 0 and "talk of older" in named.output
    check = runner.invoke(app, ["logs", "--merge-check", "talk"])
    assert check.exit_code == 0, check.output
    assert "the merge check looked at it" in check.output
    assert "talk of" not in check.output


def test_logs_explains_a_missing_task_or_check(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _finished_run(repo, "older", capsys, check=False)
    _finished_run(repo, "newer", capsys)
    monkeypatch.chdir(repo)
    # a run name where the task goes
    assert "`genesis-par logs older TASK`" in _usage_error(["logs", "older"])
    assert "name a task" in _usage_error(["logs"])
    assert "has 1 attempt (1..1), not 3" in _usage_error(["logs", "talk", "--attempt", "3"])
    assert 'run "older" has no task "nope" (tasks: talk)' in _usage_error(["logs", "older", "nope"])
    assert "no merge check ran" in _usage_error(["logs", "older", "talk", "--merge-check"])
