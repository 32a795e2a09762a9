"""on_conflict strategies on real git with scripted agents: rerun, prefer-*, agent (issue 15)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from genesis_par.cli import app
from genesis_par.commands import report as report_cmd
from genesis_par.commands import status as status_cmd
from genesis_par.errors import UsageError
from genesis_par.report import run_view
from genesis_par.state.events import ResolutionBegun, Resolved
from genesis_par.state.store import Store
from tests.conftest import commit, git
from tests.plans import PY, py, run_json, tasks_by_id, write_plan

# appends its name to registry.txt: two of them collide at the end of the file; run again on
# the new tip, one re-applies its intent cleanly. A rerun copies what it was told to told_file.
APPEND = """
import os, pathlib, sys
p = pathlib.Path("registry.txt")
p.write_text(p.read_text() + {name!r} + "\\n")
note = os.environ.get("GENESIS_CONFLICT_FILE")
if note:
    pathlib.Path({told!r}).write_text(pathlib.Path(note).read_text() + "\\nARG:" + sys.argv[1])
"""
# the merge check: no conflict marker, every line once
CHECK = py(
    """
    import pathlib, sys
    lines = pathlib.Path("registry.txt").read_text().splitlines()
    sys.exit(1 if len(set(lines)) != len(lines) or any(l[:1] in "<=>" for l in lines) else 0)
    """
)


def appender(name: str, told: Path) -> str:
    return json.dumps([PY, "-c", APPEND.format(name=name, told=str(told)), "{conflict}"])


def two_appenders(repo: Path, tmp_path: Path, name: str, merge: str) -> Path:
    commit(repo, {"registry.txt": "a\n"})
    return write_plan(
        repo,
        f"""
        [merge]
        check = {CHECK}
        {merge}

        [[tasks]]
        id = "first"
        priority = "high"
        command = {appender("first", tmp_path / "told-first.txt")}

        [[tasks]]
        id = "second"
        command = {appender("second", tmp_path / "told-second.txt")}
        """,
        header=f'[run]\nname = "{name}"\n',
    )


def test_rerun_lands_both_tasks_through_the_check_and_keeps_the_first_attempt(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = two_appenders(repo, tmp_path, "rr", 'on_conflict = "rerun"')
    code, result = run_json(repo, plan, capsys)
    merge = result["merge"]
    assert code == 0, json.dumps(merge["unmerged"]) + json.dumps(merge["resolutions"])
    assert sorted(merge["merged"]) == ["first", "second"] and merge["unmerged"] == []
    (tried,) = merge["resolutions"]
    assert tried["task"] == "second" and tried["strategy"] == "rerun"
    assert tried["outcome"] == "landed" and tried["n"] == 1
    tip = git(repo, "rev-parse", "genesis/rr/integration")
    assert git(repo, "show", f"{tip}:registry.txt").splitlines() == ["a", "first", "second"]
    # the first attempt's work is kept; the branch holds the new one
    assert git(repo, "show", "refs/genesis/rr/second/attempt-1:registry.txt") == "a\nsecond"
    assert git(repo, "show", "genesis/rr/second:registry.txt") == "a\nfirst\nsecond"
    told = (tmp_path / "told-second.txt").read_text()
    assert 'registry.txt (content) with task "first"' in told and "+first" in told
    assert "Redo your task" in told and told.split("ARG:")[1].startswith("Your earlier work")
    assert not (tmp_path / "told-first.txt").exists()
    second = tasks_by_id(result)["second"]
    assert second["attempts"] == 2 and second["status"] == "succeeded"
    assert status_cmd.status(repo, "rr", as_json=True) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["merge"]["resolutions"] == merge["resolutions"]
    assert tasks_by_id(status)["second"]["commit"] == git(repo, "rev-parse", "genesis/rr/second")
    assert status_cmd.status(repo, "rr") == 0
    assert "resolution second (rerun, try 1): landed" in capsys.readouterr().out
    assert report_cmd.run(repo, "rr", fmt="markdown") == 0
    assert "**resolution** `second` (rerun, try 1): landed" in capsys.readouterr().out
    # what the queue does, as it does it: plain lines in CI
    with Store.open(repo / ".git" / "genesis-par", read_only=True) as store:
        (recorded,) = store.resolutions("rr", "second")
    assert recorded.outcome == "landed" and recorded.log == tried["log"]
    started = run_view.describe_event("second", ResolutionBegun("rerun", 1, tip))
    ended = run_view.describe_event("second", Resolved(recorded))
    assert started and started.endswith("second: resolution started (rerun, try 1)")
    assert ended and ended.endswith("second: resolution rerun try 1 landed")


def test_leave_is_the_default_and_changes_nothing(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = two_appenders(repo, tmp_path, "lv", "")
    code, result = run_json(repo, plan, capsys)
    assert code == 3 and result["merge"]["resolutions"] == []
    assert [u["reason"] for u in result["merge"]["unmerged"]] == ["conflicts"]


def git_merge_x(repo: Path, tmp_path: Path, target: str, branch: str, option: str) -> str:
    """The tree plain `git merge -X option` gives, in a worktree of the test's own."""
    where = tmp_path / f"plain-{option}"
    git(repo, "worktree", "add", "-q", "--detach", str(where), target)
    subprocess.run(["git", "merge", "-q", "--no-edit", "-X", option, branch], cwd=where, check=True)
    return git(where, "rev-parse", "HEAD^{tree}")


@pytest.mark.parametrize(
    ("strategy", "option"), [("prefer-target", "ours"), ("prefer-task", "theirs")]
)
def test_prefer_gives_the_tree_git_merge_x_gives(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], strategy: str, option: str
) -> None:
    name = strategy.replace("prefer-", "p")
    plan = two_appenders(repo, tmp_path, name, f'on_conflict = "{strategy}"')
    code, result = run_json(repo, plan, capsys)
    assert code == 0, result["merge"]
    (tried,) = result["merge"]["resolutions"]
    assert (tried["strategy"], tried["outcome"]) == (strategy, "landed")
    # what git itself gives merging the task's own commit into the target as it was then (the
    # resolution's second parent); prefer-target may add nothing: the target is then unmoved
    seen = git(repo, "rev-parse", f"{tried['commit']}^2")
    expected = git_merge_x(repo, tmp_path, seen, f"genesis/{name}/second", option)
    assert git(repo, "rev-parse", f"genesis/{name}/integration^{{tree}}") == expected
    # the task's branch is left as the task made it; the resolution is on the target only
    assert git(repo, "show", f"genesis/{name}/second:registry.txt") == "a\nsecond"


def test_prefer_leaves_a_modify_delete_conflict_unmerged_with_the_reason(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit(repo, {"gone.txt": "keep me\n"})
    plan = write_plan(
        repo,
        f"""
        [merge]
        on_conflict = "prefer-task"

        [[tasks]]
        id = "remover"
        priority = "high"
        command = {py("import os; os.remove('gone.txt')")}

        [[tasks]]
        id = "editor"
        command = {py("open('gone.txt', 'a').write('more')")}
        """,
        header='[run]\nname = "md"\n',
    )
    before = None
    code, result = run_json(repo, plan, capsys)
    assert code == 3
    (u,) = result["merge"]["unmerged"]
    assert u["task"] == "editor" and "not a content conflict" in u["reason"]
    assert u["conflicts"][0]["kind"] == "modify/delete"
    (tried,) = result["merge"]["resolutions"]
    assert tried["outcome"] == "unresolved" and tried["commit"] is before
    tip = git(repo, "rev-parse", "genesis/md/integration")
    assert "gone.txt" not in git(repo, "ls-tree", "--name-only", tip).split()


UNMARK = (
    "lines = [l for l in open('registry.txt') if l[:7] not in ('<<<<<<<', '=======', '>>>>>>>')]"
)
RESOLVERS = {
    "removes the markers": f"{UNMARK}; open('registry.txt', 'w').writelines(lines)",
    "removes the markers, no git add": f"{UNMARK}; open('registry.txt', 'w').writelines(lines)",
    "leaves a marker": "pass",
    "fails": "import sys; sys.exit(1)",
    "breaks the check": "open('registry.txt', 'w').write('a\\nfirst\\nfirst\\n')",
    "edits another file": f"{UNMARK}; open('registry.txt', 'w').writelines(lines); "
    "open('README.md', 'a').write('and more')",
}


@pytest.mark.parametrize("behaviour", list(RESOLVERS))
def test_a_resolver_agent_lands_only_a_clean_merge_that_passes_the_check(
    repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    behaviour: str,
) -> None:
    code = "print('RESOLVER-SAID'); " + RESOLVERS[behaviour]
    if "no git add" not in behaviour:  # a coding agent edits and seldom stages: both count
        code += "; import subprocess; subprocess.run(['git', 'add', '-A'])"
    resolver = json.dumps([PY, "-c", code, "{prompt}"])
    plan = two_appenders(repo, tmp_path, "ag", f'on_conflict = "agent"\nresolver = {resolver}')
    exit_code, result = run_json(repo, plan, capsys)
    merge = result["merge"]
    (tried,) = merge["resolutions"]
    tip = git(repo, "rev-parse", "genesis/ag/integration")
    registry = git(repo, "show", f"{tip}:registry.txt").splitlines()
    assert tried["strategy"] == "agent" and Path(tried["log"]).is_file()
    monkeypatch.chdir(repo)
    shown = CliRunner().invoke(app, ["logs", "ag", "second", "--resolution", "1"])
    assert shown.exit_code == 0 and "RESOLVER-SAID" in shown.stdout
    with pytest.raises(UsageError, match="no resolution try 2"):
        status_cmd.logs(repo, "ag", "second", resolution=2)
    if behaviour.startswith("removes the markers"):
        assert exit_code == 0 and tried["outcome"] == "landed"
        assert sorted(registry) == ["a", "first", "second"]
        assert git(repo, "rev-parse", f"{tip}^2^1") == git(repo, "rev-parse", "genesis/ag/second")
        return
    assert exit_code == 3 and registry == ["a", "first"]  # nothing landed
    (u,) = merge["unmerged"]
    said = {
        "leaves a marker": "left conflict markers in registry.txt",
        "fails": "the resolver failed (exit code 1)",
        "breaks the check": "merge check failed",
        "edits another file": "the resolver changed files that did not conflict (README.md)",
    }[behaviour]
    assert said in u["reason"] and said in (tried["reason"] + u["reason"])
    assert tried["outcome"] == ("check-failed" if behaviour == "breaks the check" else "unresolved")


def test_on_conflict_agent_without_a_resolver_is_refused_at_validation(repo: Path) -> None:
    from genesis_par import plan as plan_mod
    from genesis_par.errors import PlanError

    plan = write_plan(repo, '[[tasks]]\nid = "t"\ncommand = "true"\non_conflict = "agent"\n')
    with pytest.raises(PlanError, match=r'task "t".*needs \[merge\] resolver'):
        plan_mod.load(plan)
    bad = write_plan(
        repo, '[merge]\non_conflict = "merge-please"\n[[tasks]]\nid = "t"\ncommand = "true"\n'
    )
    with pytest.raises(PlanError, match="is not one of leave, rerun, agent"):
        plan_mod.load(bad)


def test_rerun_limit_bounds_the_loop_when_the_target_keeps_moving(repo: Path) -> None:
    from genesis_par import gitops
    from genesis_par import plan as plan_mod
    from genesis_par.land import landing, resolve
    from tests.conftest import branch

    base = commit(repo, {"registry.txt": "a\n"})
    branch(repo, "genesis/lim/first", {"registry.txt": "a\nfirst\n"})
    second = branch(repo, "genesis/lim/second", {"registry.txt": "a\nsecond\n"})
    plan = plan_mod.load(
        write_plan(
            repo,
            """
            [run]
            name = "lim"
            [merge]
            on_conflict = "rerun"
            rerun_limit = 3
            [[tasks]]
            id = "first"
            priority = "high"
            command = "true"
            [[tasks]]
            id = "second"
            command = "true"
            """,
        )
    )
    target = "refs/heads/genesis/lim/integration"
    told: list[str] = []

    def rerun(task: str, tip: str, note: str, note_file: Path) -> resolve.Rerun:
        """Redo the work on tip, then someone else lands a colliding line first."""
        told.append(note)
        text = git(repo, "show", f"{tip}:registry.txt") + f"\nsecond-{len(told)}\n"
        ours = _commit_file(repo, tip, "registry.txt", text)
        theirs = _commit_file(repo, tip, "registry.txt", text.replace("second", "other"))
        git(repo, "update-ref", target, theirs, tip)
        return resolve.Rerun(ours)

    state = repo / ".git" / "genesis-par"
    home = landing.bring_home(
        gitops.discover(repo),
        "lim",
        plan,
        {"first": git(repo, "rev-parse", "genesis/lim/first"), "second": second},
        base,
        landing.Target(target, None),
        state_dir=state,
        git_env={},
        env={},
        hooks=resolve.Hooks(state, rerun=rerun),
    )
    assert home.queue is not None and home.queue.merged == ["first"]
    assert [r.outcome for r in home.resolutions] == ["conflicts"] * 3 and len(told) == 3
    assert [u.task for u in home.queue.unmerged] == ["second"]


def _commit_file(repo: Path, parent: str, path: str, text: str) -> str:
    """A commit on parent with path set to text (built with a temporary index)."""
    import os

    env = {**os.environ, "GIT_INDEX_FILE": str(repo / ".git" / "test-index")}
    subprocess.run(["git", "read-tree", parent], cwd=repo, env=env, check=True)
    blob = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        cwd=repo,
        input=text,
        text=True,
        capture_output=True,
        check=True,
    ).stdout.strip()
    subprocess.run(
        ["git", "update-index", "--cacheinfo", f"100644,{blob},{path}"],
        cwd=repo,
        env=env,
        check=True,
    )
    tree = subprocess.run(
        ["git", "write-tree"], cwd=repo, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    return git(repo, "commit-tree", tree, "-p", parent, "-m", "commit")


def test_merge_of_a_run_resolves_with_the_recorded_plan(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from genesis_par.commands import merge as merge_cmd

    plan = two_appenders(repo, tmp_path, "mr", 'on_conflict = "rerun"')
    code, result = run_json(repo, plan, capsys, no_merge=True)
    assert code == 3 and result["merge"] is None
    assert merge_cmd.run(repo, run_name="mr", as_json=True) == 0
    merge = json.loads(capsys.readouterr().out)["merge"]
    assert sorted(merge["merged"]) == ["first", "second"]
    assert [(r["task"], r["outcome"]) for r in merge["resolutions"]] == [("second", "landed")]
    assert status_cmd.status(repo, "mr", as_json=True) == 0
    status = json.loads(capsys.readouterr().out)
    second = tasks_by_id(status)["second"]
    assert second["attempts"] == 2 and second["commit"] == git(
        repo, "rev-parse", "genesis/mr/second"
    )


@pytest.mark.parametrize("method", ["squash", "rebase"])
def test_a_resolution_lands_with_squash_and_rebase_and_its_dependent_follows(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], method: str
) -> None:
    """A dependent left out because its dependency conflicted goes through once it landed;
    a rebase lands a resolution as one commit (it cannot replay a merge)."""
    commit(repo, {"registry.txt": "a\n"})
    plan = write_plan(
        repo,
        f"""
        [merge]
        method = "{method}"
        on_conflict = "prefer-task"

        [[tasks]]
        id = "first"
        priority = "high"
        command = {appender("first", tmp_path / "t1")}

        [[tasks]]
        id = "second"
        command = {appender("second", tmp_path / "t2")}

        [[tasks]]
        id = "after-second"
        depends_on = ["second"]
        command = {py("open('after.txt', 'w').write('after')")}
        """,
        header=f'[run]\nname = "{method}"\n',
    )
    code, result = run_json(repo, plan, capsys)
    merge = result["merge"]
    assert code == 0, merge["unmerged"]
    assert sorted(merge["merged"]) == ["after-second", "first", "second"]
    tip = git(repo, "rev-parse", f"genesis/{method}/integration")
    assert git(repo, "show", f"{tip}:registry.txt") == "a\nsecond"  # -X theirs: the task's line
    assert git(repo, "show", f"{tip}:after.txt") == "after"
