"""`status`, `runs` and `logs`: what is and was running, read back from the store."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner, Result

from genesis_par.cli import app
from genesis_par.commands import run as run_cmd
from genesis_par.errors import UsageError
from tests.conftest import genesis_cmd, genesis_env, git, wait_for
from tests.plans import py, write_plan

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


def _kill_supervisor_mid_run(repo: Path, tmp_path: Path, name: str) -> tuple[int, Result]:
    """Start a run whose agent waits forever, try `runs rm` on it, SIGKILL its supervisor;
    the agent's pid (it outlives its supervisor) and what `runs rm` said."""
    ready = tmp_path / "agent.pid"
    agent = py(
        f"import os, time; open({str(ready)!r}, 'w').write(str(os.getpid())); time.sleep(600)"
    )
    plan = write_plan(
        repo, f'[[tasks]]\nid = "wait"\ncommand = {agent}\n', header=f'[run]\nname = "{name}"\n'
    )
    supervisor = subprocess.Popen(
        [*genesis_cmd(), "run", str(plan)],
        cwd=repo,
        env=genesis_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: ready.exists() and ready.read_text(), "the agent to start")
        refused = runner.invoke(app, ["runs", "rm", name])
    finally:
        supervisor.kill()
        supervisor.wait(timeout=30)
    return int(ready.read_text()), refused


def test_runs_and_status_agree_on_a_run_whose_supervisor_was_killed(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`runs` said `1 running` where `status` said interrupted: one function decides both."""
    monkeypatch.chdir(repo)
    agent, refused = _kill_supervisor_mid_run(repo, tmp_path, "killed")
    try:
        assert isinstance(refused.exception, UsageError), refused.output
        assert "still running" in str(refused.exception)  # a live run is not forgotten
        listed = runner.invoke(app, ["runs", "--json"])
        assert listed.exit_code == 0, listed.output
        (row,) = json.loads(listed.stdout)["runs"]
        assert row["status"] == "interrupted"
        assert row["counts"] == {"interrupted": 1}
        wait_for(lambda: not psutil.pid_exists(agent), "runs to stop the orphaned agent")
        shown = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
        assert shown["status"] == "interrupted"
        assert [t["status"] for t in shown["tasks"]] == ["interrupted"]
    finally:
        with contextlib.suppress(psutil.Error):
            psutil.Process(agent).kill()


def test_runs_rm_forgets_a_run_and_keeps_its_branches(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    agent, _ = _kill_supervisor_mid_run(repo, tmp_path, "killed")
    with contextlib.suppress(psutil.Error):
        psutil.Process(agent).kill()
    _finished_run(repo, "merged", capsys)
    logs = repo / ".git" / "genesis-par" / "logs"
    assert (logs / "killed").is_dir()
    forgot = runner.invoke(app, ["runs", "rm", "killed", "--json"])
    assert forgot.exit_code == 0, forgot.output
    obj = json.loads(forgot.stdout)
    assert obj["forgotten"] is True and obj["branches"] == ["genesis/killed/wait"]
    assert [
        r["run"] for r in json.loads(runner.invoke(app, ["runs", "--json"]).stdout)["runs"]
    ] == ["merged"]
    assert not (logs / "killed").exists()
    assert git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/genesis/killed") == (
        "genesis/killed/wait"
    )
    assert "no run named" in _usage_error(["runs", "rm", "killed"])
    # --branches: what landed goes with the run, by worktrees rm's rules
    gone = runner.invoke(app, ["runs", "rm", "merged", "--branches"])
    assert gone.exit_code == 0, gone.output
    assert "forgot run merged" in gone.output
    assert git(repo, "for-each-ref", "refs/heads/genesis/merged/talk") == ""
    assert not (repo / ".genesis" / "worktrees" / "merged" / "talk").exists()


def test_status_lists_only_kept_refs_that_hold_work(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed attempt that changed nothing is kept by git, not listed as work kept aside."""
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "idle"
        retries = 1
        command = {py("raise SystemExit(1)")}

        [[tasks]]
        id = "busy"
        command = {py("open('half.txt', 'w').write('half done'); raise SystemExit(1)")}
    """,
        header='[run]\nname = "kept"\n',
    )
    assert run_cmd.run(repo, plan, as_json=True) == 1
    capsys.readouterr()
    every = git(repo, "for-each-ref", "--format=%(refname)", "refs/genesis/kept/").splitlines()
    assert len(every) == 3  # idle's two attempts and busy's one: none is dropped
    monkeypatch.chdir(repo)
    shown = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert shown["kept"] == [{"task": "busy", "ref": "refs/genesis/kept/busy/attempt-1"}]
    assert git(repo, "show", "refs/genesis/kept/busy/attempt-1:half.txt") == "half done"
