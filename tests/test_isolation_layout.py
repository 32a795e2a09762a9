"""Hostile targets and layouts are refused; one task's broken history never wedges a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genesis_par.commands import conflicts as conflicts_cmd
from genesis_par.commands import merge as merge_cmd
from genesis_par.commands import resume as resume_cmd
from genesis_par.commands import run as run_cmd
from genesis_par.errors import EnvironmentProblem, PlanError, UsageError
from tests.conftest import commit, git
from tests.helpers import gp
from tests.plans import py, run_json, tasks_by_id, write_plan, writer


def refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)")


TWO = f'[[tasks]]\nid = "a"\ncommand = {writer("a.txt", "a")}\n'


# --- merge targets ---


@pytest.mark.parametrize(
    ("into", "expected"),
    [
        ("refs/tags/v0", "is not a branch"),
        ("refs/heads/HEAD", "is not a valid branch name"),
        ("refs/remotes/origin/main", "is not a branch"),
        ("genesis/{run}/a", 'is the branch of task "a"'),
        ("genesis/{run}", "clashes with the run's task branches"),
        ("genesis/{run}/a/more", "clashes with the run's task branches"),
    ],
)
def test_a_merge_target_that_is_not_a_free_branch_is_refused(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], into: str, expected: str
) -> None:
    git(repo, "tag", "v0")
    before = refs(repo)
    ran = tmp_path / "ran"
    touch = py(f"open({str(ran)!r}, 'w')")
    body = f'[[tasks]]\nid = "a"\ncommand = {touch}\n'
    plan = write_plan(repo, body, header=f'[run]\nname = "t"\n[merge]\ninto = "{into}"\n')
    with pytest.raises(PlanError, match=expected):
        run_cmd.run(repo, plan, as_json=True)
    # the same name given as --into, over a plan that is fine
    good = write_plan(repo, body, name="good.toml", header='[run]\nname = "t"\n')
    with pytest.raises(UsageError, match=expected):
        run_cmd.run(repo, good, as_json=True, into=into.replace("{run}", "t"))
    assert not ran.exists()
    assert refs(repo) == before


def test_a_task_named_integration_cannot_be_the_default_target(repo: Path, tmp_path: Path) -> None:
    plan = write_plan(repo, '[[tasks]]\nid = "integration"\ncommand = "true"\n')
    with pytest.raises(PlanError, match=r'task "integration": its branch genesis/plan/integration'):
        run_cmd.run(repo, plan, as_json=True)
    assert git(repo, "branch", "--list", "genesis/*") == ""


def test_a_run_name_given_with_name_is_checked_against_the_target(repo: Path) -> None:
    """`--name` changes {run}: a target that was free under the plan's name may clash."""
    body = '[[tasks]]\nid = "x"\ncommand = "true"\n'
    plan = write_plan(repo, body, header='[run]\nname = "r"\n[merge]\ninto = "genesis/n/x"\n')
    with pytest.raises(UsageError, match='is the branch of task "x"'):
        run_cmd.run(repo, plan, name="n", as_json=True)
    assert git(repo, "branch", "--list", "genesis/*") == ""


def test_a_target_that_names_a_tag_is_refused_and_the_tag_stays(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(repo, "tag", "v0")
    before = refs(repo)
    plan = write_plan(repo, TWO, header='[run]\nname = "tg"\n[merge]\ninto = "v0"\n')
    with pytest.raises(UsageError, match='"v0" is a tag'):
        run_cmd.run(repo, plan, as_json=True)
    commit(repo, {"b.txt": "b\n"})
    git(repo, "branch", "feature")
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    before = refs(repo)
    for into in ("v0", "refs/tags/v0"):
        with pytest.raises(UsageError):
            merge_cmd.run(repo, ["feature"], into=into, as_json=True)
    assert refs(repo) == before


# --- the .genesis folder and the repository path ---


def test_a_tracked_genesis_symlink_is_refused_with_one_line(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "worktrees" / "old" / "keep").mkdir(parents=True)
    (outside / "worktrees" / "old" / "keep" / "precious.txt").write_text("mine\n")
    (repo / ".genesis").symlink_to(outside)
    git(repo, "add", "-f", ".genesis")
    git(repo, "commit", "-qm", "a symlink")
    plan = write_plan(repo, TWO, header='[run]\nname = "sl"\n')
    for args in (["run", str(plan)], ["worktrees", "gc", "--force"], ["worktrees", "list"]):
        done = gp(repo, *args)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and ".genesis" in lines[0] and "symlink" in lines[0], lines
    assert sorted(p.name for p in outside.rglob("*")) == [
        "keep",
        "old",
        "precious.txt",
        "worktrees",
    ]
    assert git(repo, "branch", "--list", "genesis/*") == ""


def test_a_genesis_folder_that_is_not_ours_is_refused(repo: Path) -> None:
    commit(repo, {".genesis/config.yml": "someone else's\n"})
    plan = write_plan(repo, TWO, header='[run]\nname = "no"\n')
    done = gp(repo, "run", str(plan))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert ".genesis" in line and "not genesis-par's" in line
    assert git(repo, "branch", "--list", "genesis/*") == ""


def test_a_repository_path_with_a_newline_is_refused(tmp_path: Path) -> None:
    parent = tmp_path / "two\nlines"
    parent.mkdir()
    repo = parent / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, {"README.md": "hello\n"})
    plan = write_plan(repo, TWO, header='[run]\nname = "nl"\n')
    with pytest.raises(EnvironmentProblem, match="newline"):
        run_cmd.run(repo, plan, as_json=True)
    done = gp(repo, "run", str(plan))
    assert done.returncode == 4 and "Traceback" not in done.stderr
    assert not (tmp_path / "two").exists()  # nothing made where the path was cut
    assert not (repo / ".git" / "genesis-par").exists()


# --- one task's broken history ---


MISSING_PARENT = (
    "c=$(printf 'tree %s\\nparent %s\\nauthor a <a@b> 1 +0000\\ncommitter a <a@b> 1 +0000\\n\\nx\\n' "
    "$(git rev-parse HEAD^{{tree}}) 1111111111111111111111111111111111111111 | "
    "git hash-object -t commit -w --stdin) && git reset -q --soft $c && echo x > rootless.txt"
)


# The fence (docs/isolation.md) catches an agent that breaks its own branch when it ends; one
# that bypasses the reference-transaction hook this way reaches other tasks' branches, and the
# merge queue must then leave only the damaged tasks unmerged.
BYPASS = "git -c core.hooksPath=/dev/null"


def test_a_finished_branch_moved_to_an_unrelated_history_leaves_only_it_unmerged(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An agent that makes an orphan history in its own worktree has that tree recorded on its
    branch like any work; one that bypasses the fence and points a finished task's branch at
    an unrelated history leaves that task (and its dependents) unmerged, the rest landing."""
    why = "an unrelated history"
    main_before = git(repo, "rev-parse", "main")
    breaker = (
        "c=$(git commit-tree $(git mktree </dev/null) -m orphan) && "
        f"{BYPASS} update-ref refs/heads/genesis/un/rogue $c && echo b > b.txt"
    )
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "good"
        command = {writer("good.txt", "good")}

        [[tasks]]
        id = "rogue"
        command = {writer("rogue.txt", "rogue")}

        [[tasks]]
        id = "breaker"
        depends_on = ["rogue"]
        command = {json.dumps(breaker)}

        [[tasks]]
        id = "other"
        command = {writer("other.txt", "other")}
        """,
        header='[run]\nname = "un"\n',
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 3, result
    merge = result["merge"]
    assert sorted(merge["merged"]) == ["good", "other"]
    reasons = {u["task"]: u["reason"] for u in merge["unmerged"]}
    assert why in reasons["rogue"] and reasons["breaker"] == "dependency rogue not merged"
    assert git(repo, "ls-tree", "--name-only", "genesis/un/integration").split() == [
        "README.md",
        "good.txt",
        "other.txt",
    ]
    assert git(repo, "rev-parse", "main") == main_before

    assert conflicts_cmd.run(repo, run_name="un", as_json=True) == 3
    report = json.loads(capsys.readouterr().out)
    rogue = next(b for b in report["branches"] if b["name"] == "genesis/un/rogue")
    assert why in rogue["broken"]
    assert merge_cmd.run(repo, run_name="un", dry_run=True, as_json=True) == 3
    dry = json.loads(capsys.readouterr().out)
    assert sorted(u["task"] for u in dry["merge"]["unmerged"]) == ["breaker", "rogue"]
    assert resume_cmd.resume(repo, "un", retry_failed=True, as_json=True) == 3


def test_an_agent_pointing_its_branch_at_a_broken_history_fails_with_history(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main_before = git(repo, "rev-parse", "main")
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "good"
        command = {writer("good.txt", "good")}

        [[tasks]]
        id = "rogue"
        command = {json.dumps(MISSING_PARENT)}
        """,
        header='[run]\nname = "hist"\n',
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 1, result
    rogue = tasks_by_id(result)["rogue"]
    assert (rogue["status"], rogue["failure"]) == ("failed", "history")
    assert result["merge"]["merged"] == ["good"]
    # put back on a readable history (the agent's broken commit is kept aside, not on it)
    git(repo, "rev-list", "genesis/hist/rogue")
    assert git(repo, "rev-parse", "main") == main_before


def test_an_agent_deleting_a_finished_tasks_branch_leaves_only_that_task_unmerged(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "victim"
        command = {writer("victim.txt", "v")}

        [[tasks]]
        id = "killer"
        depends_on = ["victim"]
        command = "{BYPASS} update-ref -d refs/heads/genesis/del/victim && echo k > killer.txt"

        [[tasks]]
        id = "bystander"
        command = {writer("by.txt", "b")}
        """,
        header='[run]\nname = "del"\n',
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 3, result
    victim = tasks_by_id(result)["victim"]
    merge = result["merge"]
    assert merge["merged"] == ["bystander"]
    reasons = {u["task"]: u["reason"] for u in merge["unmerged"]}
    assert "deleted" in reasons["victim"] and str(victim["commit"])[:12] in reasons["victim"]
    assert reasons["killer"] == "dependency victim not merged"
    assert conflicts_cmd.run(repo, run_name="del", as_json=True) == 3
    capsys.readouterr()
    assert merge_cmd.run(repo, run_name="del", dry_run=True, as_json=True) == 3


def test_a_branch_deleted_while_its_agent_runs_leaves_that_task_unmerged(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The victim commits onto an unborn branch (a root commit holding every file): a history
    with no common commit, which must not stop the rest from landing."""
    ready, deleted = tmp_path / "ready", tmp_path / "deleted"
    wait = "import os, time, sys\nend = time.time() + 60\n"
    victim = py(
        f"{wait}open({str(ready)!r}, 'w').close()\n"
        f"while not os.path.exists({str(deleted)!r}) and time.time() < end: time.sleep(0.02)\n"
        "open('victim.txt', 'w').write('v')\n"
    )
    killer = py(
        f"{wait}import subprocess\n"
        f"while not os.path.exists({str(ready)!r}) and time.time() < end: time.sleep(0.02)\n"
        "subprocess.run(['git', '-c', 'core.hooksPath=/dev/null', 'update-ref', '-d',"
        " 'refs/heads/genesis/mid/victim'], check=True)\n"
        f"open({str(deleted)!r}, 'w').close()\n"
        "open('killer.txt', 'w').write('k')\n"
    )
    plan = write_plan(
        repo,
        f'[[tasks]]\nid = "victim"\ncommand = {victim}\n'
        f'[[tasks]]\nid = "killer"\ncommand = {killer}\n',
        header='[run]\nname = "mid"\nmax_parallel = 2\n',
    )
    code, result = run_json(repo, plan, capsys)
    # the victim's own fence finds its branch gone when its agent ends: put back, task failed
    assert code == 1, result
    assert result["merge"]["merged"] == ["killer"]
    victim_result = tasks_by_id(result)["victim"]
    assert (victim_result["status"], victim_result["failure"]) == ("failed", "history")
    git(repo, "rev-parse", "--verify", "genesis/mid/victim")
    assert conflicts_cmd.run(repo, run_name="mid", as_json=True) in (0, 3)
    capsys.readouterr()
    assert merge_cmd.run(repo, run_name="mid", dry_run=True, as_json=True) == 0


def test_a_finished_branch_moved_to_an_unreadable_history_is_left_unmerged_with_the_reason(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = MISSING_PARENT.split(" && git reset", 1)[0].replace(
        "git hash-object", "git hash-object"
    )
    breaker = f"{broken} && {BYPASS} update-ref refs/heads/genesis/one/victim $c && echo b > b.txt"
    plan = write_plan(
        repo,
        f'[[tasks]]\nid = "victim"\ncommand = {writer("victim.txt", "v")}\n'
        f'[[tasks]]\nid = "breaker"\ndepends_on = ["victim"]\ncommand = {json.dumps(breaker)}\n',
        header='[run]\nname = "one"\n',
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 3, result
    reasons = {u["task"]: u["reason"] for u in result["merge"]["unmerged"]}
    assert "Could not read 1111111111111111111111111111111111111111" in reasons["victim"]
    assert reasons["breaker"] == "dependency victim not merged"
    assert result["merge"]["merged"] == []


def test_gc_never_follows_a_link_an_agent_put_under_genesis(repo: Path, tmp_path: Path) -> None:
    """A run folder that is a symlink (an agent can write anywhere the user can) is not
    walked: gc --force moves nothing of what it points to."""
    outside = tmp_path / "home-stuff"
    (outside / "project").mkdir(parents=True)
    (outside / "project" / "notes.txt").write_text("mine\n")
    (repo / ".genesis" / "worktrees").mkdir(parents=True)
    (repo / ".genesis" / "worktrees" / "evil").symlink_to(outside)
    done = gp(repo, "worktrees", "gc", "--force")
    assert done.returncode == 0, done.stderr
    assert (outside / "project" / "notes.txt").read_text() == "mine\n"
    assert not (repo / ".genesis" / "saved").exists()
