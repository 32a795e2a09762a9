"""`resolve` then a by-hand commit then `merge` lands the task; status, report and git agree."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from genesis_par.commands import merge as merge_cmd
from genesis_par.commands import report as report_cmd
from genesis_par.commands import resolve as resolve_cmd
from genesis_par.commands import status as status_cmd
from genesis_par.errors import UsageError
from genesis_par.state.store import run_lock
from tests.conftest import commit, git
from tests.plans import run_json, tasks_by_id, write_plan, writer


def colliding_run(repo: Path, capsys: pytest.CaptureFixture[str], name: str) -> dict[str, object]:
    """Two tasks writing the same line: first lands, second is left unmerged (exit 3)."""
    commit(repo, {"shared.txt": "line\n"})
    first, second = writer("shared.txt", "first\n"), writer("shared.txt", "second\n")
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "first"
        priority = "high"
        command = {first}

        [[tasks]]
        id = "second"
        command = {second}
        """,
        header=f'[run]\nname = "{name}"\n',
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 3 and result["merge"]["merged"] == ["first"]
    return result


def test_a_commit_added_to_a_task_branch_is_part_of_the_task(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    colliding_run(repo, capsys, "r1")
    wt = repo / ".genesis/worktrees/r1/second"
    # by hand, as a person would: merge the target into the task branch, fix, commit
    with pytest.raises(subprocess.CalledProcessError):  # the conflict: git exits 1
        git(wt, "merge", "-q", "genesis/r1/integration")
    (wt / "shared.txt").write_text("first and second\n")
    git(wt, "commit", "-qam", "fixed by hand")
    tip = git(repo, "rev-parse", "genesis/r1/second")
    assert merge_cmd.run(repo, as_json=True) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["merge"]["merged"] == ["first", "second"] and out["merge"]["unmerged"] == []
    integration = git(repo, "rev-parse", "genesis/r1/integration")
    assert git(repo, "show", f"{integration}:shared.txt") == "first and second"
    assert git(repo, "merge-base", "--is-ancestor", tip, integration) == ""
    # status and report say the commit the branch holds, and that nothing is left
    assert status_cmd.status(repo, "r1", as_json=True) == 0
    status = json.loads(capsys.readouterr().out)
    assert tasks_by_id(status)["second"]["commit"] == tip
    assert status["status"] == "succeeded" and status["merge"]["unmerged"] == []
    assert report_cmd.run(repo, "r1") == 0
    report = json.loads(capsys.readouterr().out)
    assert tasks_by_id(report)["second"]["commit"] == tip and report["status"] == "succeeded"


def test_resolve_leaves_the_conflicted_merge_then_a_by_hand_commit_lands(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    colliding_run(repo, capsys, "r2")
    assert resolve_cmd.run(repo, "r2", "second") == 3
    text = capsys.readouterr().out
    wt = repo / ".genesis/worktrees/r2/second"
    assert str(wt) in text and "shared.txt" in text and "genesis-par merge --run r2" in text
    content = (wt / "shared.txt").read_text()
    assert "<<<<<<<" in content and "first" in content and "second" in content
    assert git(wt, "diff", "--name-only", "--diff-filter=U") == "shared.txt"
    # run again while the merge is in progress: it is left as it is, and said so
    assert resolve_cmd.run(repo, "r2", "second", as_json=True) == 3
    again = json.loads(capsys.readouterr().out)
    assert again["outcome"] == "in-progress" and again["unmerged"] == ["shared.txt"]
    (wt / "shared.txt").write_text("first then second\n")
    git(wt, "add", "shared.txt")
    git(wt, "commit", "-q", "--no-edit")
    tip = git(repo, "rev-parse", "genesis/r2/second")
    assert merge_cmd.run(repo, run_name="r2") == 0
    capsys.readouterr()
    integration = git(repo, "rev-parse", "genesis/r2/integration")
    assert git(repo, "show", f"{integration}:shared.txt") == "first then second"
    assert status_cmd.status(repo, "r2", as_json=True) == 0
    status = json.loads(capsys.readouterr().out)
    assert tasks_by_id(status)["second"]["commit"] == tip
    assert status["merge"]["merged"] == ["first", "second"] and status["status"] == "succeeded"


def test_resolve_of_a_task_already_landed_changes_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    colliding_run(repo, capsys, "r3")
    before = git(repo, "rev-parse", "genesis/r3/first")
    assert resolve_cmd.run(repo, "r3", "first", as_json=True) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["outcome"] == "landed" and done["unmerged"] == []
    assert git(repo, "rev-parse", "genesis/r3/first") == before


def test_resolve_refuses_a_worktree_with_uncommitted_changes(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    colliding_run(repo, capsys, "r4")
    wt = repo / ".genesis/worktrees/r4/second"
    (wt / "notes.txt").write_text("mine\n")
    with pytest.raises(UsageError, match="uncommitted changes"):
        resolve_cmd.run(repo, "r4", "second")
    assert (wt / "notes.txt").read_text() == "mine\n"
    with pytest.raises(UsageError, match='no task "nope"'):
        resolve_cmd.run(repo, "r4", "nope")
    (wt / "notes.txt").unlink()
    with (
        run_lock(repo / ".git" / "genesis-par", "r4"),
        pytest.raises(UsageError, match="still running"),
    ):
        resolve_cmd.run(repo, "r4", "second")
    assert "<<<<<<<" not in (wt / "shared.txt").read_text()


def test_the_api_resolves_and_merges_as_the_commands_do(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from genesis_par import api

    colliding_run(repo, capsys, "r5")
    done = api.resolve("second", "r5", cwd=repo)
    assert done.outcome.value == "conflicts" and done.unmerged == ("shared.txt",)
    (done.worktree / "shared.txt").write_text("both\n")
    git(done.worktree, "commit", "-qam", "fixed")
    home = api.merge(run="r5", cwd=repo)
    assert home.queue is not None and home.queue.unmerged == [] and home.resolutions == []
    assert git(repo, "show", "genesis/r5/integration:shared.txt") == "both"
    assert capsys.readouterr().out == ""  # the API prints nothing
