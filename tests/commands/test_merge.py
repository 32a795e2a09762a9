from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from genesis_par.commands import demo
from genesis_par.commands import merge as merge_cmd
from genesis_par.commands import resume as resume_cmd
from genesis_par.commands import status as status_cmd
from genesis_par.errors import UsageError
from tests.conftest import commit, genesis_cmd, genesis_env, git, wait_for
from tests.helpers import alive
from tests.plans import py, run_json, tasks_by_id, write_plan, writer


def test_three_disjoint_tasks_all_land_and_the_user_branch_is_untouched(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = "".join(
        f'[[tasks]]\nid = "t{i}"\ncommand = {writer(f"f{i}.txt", str(i))}\n' for i in range(3)
    )
    plan = write_plan(repo, body, header='[run]\nname = "m1"\n')
    (repo / "scratch.txt").write_text("user's uncommitted work\n")
    main_before = git(repo, "rev-parse", "main")
    code, result = run_json(repo, plan, capsys)
    assert code == 0, result
    merge = result["merge"]
    assert sorted(merge["merged"]) == ["t0", "t1", "t2"] and merge["unmerged"] == []
    assert merge["into"] == "genesis/m1/integration"
    tip = git(repo, "rev-parse", "genesis/m1/integration")
    assert tip == merge["after"]
    assert git(repo, "ls-tree", "--name-only", tip).split() == [
        "README.md",
        "f0.txt",
        "f1.txt",
        "f2.txt",
    ]
    assert "Genesis-Task:" in git(repo, "log", "-1", "--format=%B", tip)
    assert git(repo, "rev-parse", "main") == main_before
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert (repo / "scratch.txt").read_text() == "user's uncommitted work\n"
    assert not (repo / "f0.txt").exists()


def test_the_queue_knows_the_trees_it_built(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each candidate is checked against the tip's tree (already there?); the tips the queue
    built itself have the tree it gave them, so git is asked only for the first tip's."""
    body = "".join(
        f'[[tasks]]\nid = "t{i}"\ncommand = {writer(f"f{i}.txt", str(i))}\n' for i in range(4)
    )
    plan = write_plan(repo, body, header='[run]\nname = "trees"\n')
    trace = tmp_path / "trace.json"
    monkeypatch.setenv("GIT_TRACE2_EVENT", str(trace))
    code, result = run_json(repo, plan, capsys)
    monkeypatch.delenv("GIT_TRACE2_EVENT")
    assert code == 0 and sorted(result["merge"]["merged"]) == ["t0", "t1", "t2", "t3"]
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    asked = [
        e["argv"][-1]
        for e in events
        if e["event"] == "start" and "rev-parse" in e["argv"] and e["argv"][-1].endswith("^{tree}")
    ]
    assert asked == [result["merge"]["before"] + "^{tree}"]
    tip = result["merge"]["after"]
    assert git(repo, "ls-tree", "--name-only", tip).split()[1:] == [f"f{i}.txt" for i in range(4)]


def test_same_lines_one_lands_the_other_is_unmerged_with_exit_3(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit(repo, {"shared.txt": "line\n"})
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "first"
        priority = "high"
        command = {writer("shared.txt", "first")}

        [[tasks]]
        id = "second"
        command = {writer("shared.txt", "second")}
    """,
        header='[run]\nname = "m2"\n',
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 3
    assert result["status"] == "conflicts"
    assert result["merge"]["merged"] == ["first"]
    (unmerged,) = result["merge"]["unmerged"]
    assert unmerged == {
        "task": "second",
        "reason": "conflicts",
        "conflicts": [{"path": "shared.txt", "kind": "content", "with": "first"}],
    }
    pair = result["conflicts"]["pairs"][0]
    assert pair["clean"] is False and pair["conflicts"][0]["kind"] == "content"
    # status tells the same story later: what merged, what did not and why
    assert status_cmd.status(repo, as_json=True) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["merge"]["unmerged"] == result["merge"]["unmerged"]
    assert status_cmd.status(repo) == 0
    text = capsys.readouterr().out
    assert "unmerged second: conflicts: shared.txt (content) with first" in text


def test_a_merge_that_breaks_the_check_is_backed_out(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check = py(
        "import pathlib, sys; sys.exit('BROKEN' in pathlib.Path('state.txt').read_text() if pathlib.Path('state.txt').exists() else 0)"
    )
    plan = write_plan(
        repo,
        f"""
        [merge]
        check = {check}

        [[tasks]]
        id = "good"
        priority = "high"
        command = {writer("good.txt", "fine")}

        [[tasks]]
        id = "bad"
        command = {writer("state.txt", "BROKEN")}
    """,
        header='[run]\nname = "m3"\n',
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 3
    assert result["merge"]["merged"] == ["good"]
    (unmerged,) = result["merge"]["unmerged"]
    assert unmerged["task"] == "bad" and unmerged["reason"] == "merge check failed"
    assert Path(unmerged["log"]).exists()
    tip = git(repo, "rev-parse", "genesis/m3/integration")
    assert git(repo, "ls-tree", "--name-only", tip).split() == ["README.md", "good.txt"]


def test_every_task_true_leaves_the_base_tree(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = "".join(f'[[tasks]]\nid = "n{i}"\ncommand = "true"\n' for i in range(3))
    plan = write_plan(repo, body, header='[run]\nname = "m4"\n')
    code, result = run_json(repo, plan, capsys)
    assert code == 0
    assert all(t["changed"] is False for t in result["tasks"])
    assert git(repo, "rev-parse", "genesis/m4/integration^{tree}") == git(
        repo, "rev-parse", "main^{tree}"
    )


def refs(repo: Path) -> str:
    return (
        git(repo, "for-each-ref")
        + git(repo, "status", "--porcelain")
        + git(repo, "worktree", "list")
    )


def test_dry_run_changes_nothing_then_merge_and_rollback(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "a"
        command = {writer("a.txt", "a")}

        [[tasks]]
        id = "b"
        command = {writer("b.txt", "b")}
    """,
        header='[run]\nname = "m5"\n',
    )
    code, _ = run_json(repo, plan, capsys, no_merge=True)
    assert code == 0
    assert git(repo, "for-each-ref", "refs/heads/genesis/m5/integration") == ""
    before = refs(repo)
    objects = git(repo, "count-objects", "-v")
    assert merge_cmd.run(repo, run_name="m5", dry_run=True, as_json=True) == 0
    predicted = json.loads(capsys.readouterr().out)
    assert predicted["dry_run"] is True and predicted["merge"]["merged"] == ["a", "b"]
    assert refs(repo) == before and git(repo, "count-objects", "-v") == objects
    assert merge_cmd.run(repo, run_name="m5", as_json=True) == 0
    done = json.loads(capsys.readouterr().out)
    tip = git(repo, "rev-parse", "genesis/m5/integration")
    assert tip == done["merge"]["after"]
    # the later merge is the run's merge now: status says so
    assert status_cmd.status(repo, "m5", as_json=True) == 0
    assert json.loads(capsys.readouterr().out)["merge"]["merged"] == ["a", "b"]
    assert merge_cmd.rollback(repo, "m5") == 0
    assert git(repo, "rev-parse", "genesis/m5/integration") == done["merge"]["before"]
    capsys.readouterr()
    assert status_cmd.status(repo, "m5") == 0
    assert "rolled back" in capsys.readouterr().out
    # a finished run has nothing to resume: it says so, exits as the run did, merges nothing
    assert resume_cmd.resume(repo, "m5") == 0
    assert "already finished (succeeded): nothing to resume" in capsys.readouterr().err
    assert git(repo, "rev-parse", "genesis/m5/integration") == done["merge"]["before"]


def test_rollback_refuses_a_moved_target_unless_revert(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(
        repo,
        f'[[tasks]]\nid = "a"\ncommand = {writer("a.txt", "a")}\n',
        header='[run]\nname = "m6"\n',
    )
    assert run_json(repo, plan, capsys)[0] == 0
    git(repo, "checkout", "-q", "genesis/m6/integration")
    commit(repo, {"later.txt": "by hand\n"})
    git(repo, "checkout", "-q", "main")
    with pytest.raises(UsageError, match="moved since the run merged"):
        merge_cmd.rollback(repo, "m6")
    assert merge_cmd.rollback(repo, "m6", revert=True) == 0
    tip = git(repo, "rev-parse", "genesis/m6/integration")
    assert git(repo, "ls-tree", "--name-only", tip).split() == ["README.md", "later.txt"]


def test_a_target_moved_during_the_queue_is_not_overwritten(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The merge check moves the target by hand (once, while b is checked, after a landed): the
    # queue must re-probe, not force.
    mover = py(f"""
        import pathlib, subprocess
        flag = pathlib.Path({str(repo.parent / "moved")!r})
        calls = int(flag.read_text()) if flag.exists() else 0
        flag.write_text(str(calls + 1))
        if calls == 1:
            r = {str(repo)!r}
            import os
            env = dict(os.environ, GIT_INDEX_FILE=str(flag) + '.idx')
            tip = subprocess.run(['git', 'rev-parse', 'genesis/m7/integration'], cwd=r, capture_output=True, text=True, check=True).stdout.strip()
            subprocess.run(['git', 'read-tree', tip], cwd=r, env=env, check=True)
            blob = subprocess.run(['git', 'hash-object', '-w', '--stdin'], cwd=r, input='by hand', capture_output=True, text=True, check=True).stdout.strip()
            subprocess.run(['git', 'update-index', '--add', '--cacheinfo', '100644,' + blob + ',hand.txt'], cwd=r, env=env, check=True)
            tree = subprocess.run(['git', 'write-tree'], cwd=r, env=env, capture_output=True, text=True, check=True).stdout.strip()
            new = subprocess.run(['git', 'commit-tree', tree, '-p', tip, '-m', 'by hand'], cwd=r, capture_output=True, text=True, check=True).stdout.strip()
            subprocess.run(['git', 'update-ref', 'refs/heads/genesis/m7/integration', new, tip], cwd=r, check=True)
    """)
    plan = write_plan(
        repo,
        f"""
        [merge]
        check = {mover}
        batch = 1  # one check per task (the batched queue's own test: tests/land)

        [[tasks]]
        id = "a"
        command = {writer("a.txt", "a")}

        [[tasks]]
        id = "b"
        command = {writer("b.txt", "b")}
    """,
        header='[run]\nname = "m7"\n',
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 0, result
    tip = git(repo, "rev-parse", "genesis/m7/integration")
    names = git(repo, "ls-tree", "--name-only", tip).split()
    assert names == ["README.md", "a.txt", "b.txt", "hand.txt"]
    assert "by hand" in git(repo, "log", "--format=%s", tip)
    # rolling back must not drop the commit someone else made between the run's merges
    with pytest.raises(UsageError, match="holds commits made between the run's merges"):
        merge_cmd.rollback(repo, "m7")
    assert git(repo, "rev-parse", "genesis/m7/integration") == tip
    assert merge_cmd.rollback(repo, "m7", revert=True) == 0
    reverted = git(repo, "rev-parse", "genesis/m7/integration")
    assert git(repo, "ls-tree", "--name-only", reverted).split() == ["README.md", "hand.txt"]


def test_checked_out_target_needs_into_and_then_updates_the_worktree(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(
        repo,
        f'[merge]\ninto = "main"\n[[tasks]]\nid = "a"\ncommand = {writer("a.txt", "a")}\n',
        header='[run]\nname = "m8"\n',
    )
    with pytest.raises(UsageError, match="checked out"):
        run_json(repo, plan, capsys)
    plan2 = write_plan(
        repo,
        f'[[tasks]]\nid = "a"\ncommand = {writer("a.txt", "a")}\n',
        name="p2.toml",
        header='[run]\nname = "m9"\n',
    )
    before = git(repo, "rev-parse", "main")
    code, result = run_json(repo, plan2, capsys, into="main")
    assert code == 0, result
    assert (repo / "a.txt").read_text() == "a"
    assert git(repo, "status", "--porcelain") == ""
    # rollback moves the checked-out branch and its files back together
    assert merge_cmd.rollback(repo, "m9") == 0
    assert git(repo, "rev-parse", "main") == before
    assert not (repo / "a.txt").exists()
    assert git(repo, "status", "--porcelain") == ""


def test_demo_runs_the_whole_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.run(tmp_path / "d", as_json=True) == 0
    result = json.loads(capsys.readouterr().out)
    tasks = tasks_by_id(result)
    assert tasks["give-up"]["status"] == "failed" and tasks["follow-up"]["status"] == "skipped"
    assert tasks["flaky-cli"]["attempts"] == 2 and tasks["flaky-cli"]["status"] == "succeeded"
    unmerged = {u["task"]: u for u in result["merge"]["unmerged"]}
    assert "greet-loud" not in unmerged  # its content conflict: run again on top, it landed
    (rerun,) = result["merge"]["resolutions"]
    assert (rerun["task"], rerun["strategy"], rerun["outcome"]) == ("greet-loud", "rerun", "landed")
    assert unmerged["fix-legacy"]["conflicts"][0]["kind"] == "modify/delete"
    assert unmerged["break-add"]["reason"] == "merge check failed"
    assert {"add-mul", "write-usage", "write-index", "flaky-cli"} <= set(result["merge"]["merged"])


@pytest.mark.parametrize("method", ["squash", "rebase", "merge"])
def test_a_dependent_task_lands_after_its_dependency_with_every_method(
    repo: Path, capsys: pytest.CaptureFixture[str], method: str
) -> None:
    """squash and rebase land the dependency as new commits; the dependent's own change must
    still land on top, not collide with the dependency's original commits."""
    lib = writer("feature.py", "def f():\n    return 1\n")
    plan = write_plan(
        repo,
        f"""
        [merge]
        method = "{method}"

        [[tasks]]
        id = "other"
        priority = "high"
        command = {writer("other.txt", "first to land")}

        [[tasks]]
        id = "lib"
        command = {lib}

        [[tasks]]
        id = "use"
        depends_on = ["lib"]
        command = {py("import pathlib; p = pathlib.Path('feature.py'); p.write_text(p.read_text().replace('1', '2'))")}
    """,
        header=f'[run]\nname = "dep-{method}"\n',
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 0, result["merge"]
    assert result["merge"]["merged"] == ["other", "lib", "use"]
    tip = f"genesis/dep-{method}/integration"
    assert git(repo, "show", f"{tip}:feature.py") == "def f():\n    return 2"
    assert git(repo, "show", f"{tip}:other.txt") == "first to land"


def test_a_dependent_of_unmerged_work_is_not_merged_and_blame_goes_where_it_belongs(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """C holds A's work: with A backed out by the merge check, C must not bring it in anyway.
    A conflict with the target's own later commit is named as with the target. (batch = 1:
    this check fails A alone but passes A with C, which a batch checks together.)"""
    (repo / "shared.txt").write_text("".join(f"{i}\n" for i in range(10)))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "shared")
    git(repo, "branch", "release")
    git(repo, "checkout", "-q", "release")
    lines = [f"{i}\n" for i in range(10)]
    lines[5] = "release\n"
    (repo / "shared.txt").write_text("".join(lines))
    git(repo, "commit", "-qam", "release moved on")
    git(repo, "checkout", "-q", "main")
    check = py(
        "import os, sys; sys.exit(1 if os.path.exists('a.txt') and not os.path.exists('c.txt') else 0)"
    )

    def edit(line: int, text: str) -> str:
        code = "p = 'shared.txt'; l = open(p).readlines(); l[{}] = {!r}; open(p, 'w').writelines(l)"
        return py(code.format(line, text + "\n"))

    plan = write_plan(
        repo,
        f"""
        [merge]
        check = {check}
        batch = 1

        [[tasks]]
        id = "A"
        priority = "high"
        command = {writer("a.txt", "a")}

        [[tasks]]
        id = "C"
        depends_on = ["A"]
        command = {writer("c.txt", "c")}

        [[tasks]]
        id = "y"
        command = {edit(1, "y")}

        [[tasks]]
        id = "z"
        command = {edit(5, "z")}
    """,
        header='[run]\nname = "dep-unmerged"\n',
    )
    code, result = run_json(repo, plan, capsys, into="release")
    assert code == 3, result
    unmerged = {u["task"]: u for u in result["merge"]["unmerged"]}
    assert unmerged["A"]["reason"] == "merge check failed"
    assert unmerged["C"]["reason"] == "dependency A not merged"
    assert unmerged["z"]["conflicts"] == [
        {"path": "shared.txt", "kind": "content", "with": "target"}
    ]
    assert "a.txt" not in git(repo, "ls-tree", "--name-only", "release").split()


def test_a_hanging_merge_check_is_stopped_at_its_timeout(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(
        repo,
        f"""
        [merge]
        check = "sleep 600"
        timeout = "1s"

        [[tasks]]
        id = "a"
        command = {writer("a.txt", "a")}
    """,
        header='[run]\nname = "hang"\n',
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 3
    (unmerged,) = result["merge"]["unmerged"]
    assert unmerged["task"] == "a" and unmerged["reason"] == "merge check failed"


def test_sigterm_during_the_merge_queue_exits_130_and_stops_the_check(
    repo: Path, tmp_path: Path
) -> None:
    ready = tmp_path / "check-started"
    check = py(
        f"import os, time; open({str(ready)!r}, 'w').write(str(os.getpid())); time.sleep(600)"
    )
    plan = write_plan(
        repo,
        f'[merge]\ncheck = {check}\n[[tasks]]\nid = "a"\ncommand = {writer("a.txt", "a")}\n',
    )
    main = subprocess.Popen(
        [*genesis_cmd(), "run", str(plan)],
        cwd=repo,
        env=genesis_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: (ready.exists() and ready.read_text()) or main.poll() is not None, "the check")
    main.send_signal(signal.SIGTERM)
    _, err = main.communicate(timeout=30)
    assert main.returncode == 130, err
    assert "Traceback" not in err
    pid = int(ready.read_text())
    wait_for(lambda: not alive(pid), "check to stop", bound=10)


def test_agents_writing_a_file_name_that_is_not_utf8_get_a_report_not_a_traceback(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Paths are bytes to git: the probe, the queue and both outputs keep such a name exact."""
    name = b"caf\xe9.txt"
    write = "import sys; open(b'caf\\xe9.txt', 'w').write(sys.argv[1])"
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "one"
        priority = "high"
        command = {json.dumps([sys.executable, "-c", write, "one"])}

        [[tasks]]
        id = "two"
        command = {json.dumps([sys.executable, "-c", write, "two"])}
        """,
        header='[run]\nname = "bytes"\n',
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 3, result
    assert result["merge"]["merged"] == ["one"]
    (unmerged,) = result["merge"]["unmerged"]
    assert [os.fsencode(c["path"]) for c in unmerged["conflicts"]] == [name]
    done = subprocess.run(
        [*genesis_cmd(), "conflicts", "--run", "bytes"],
        cwd=repo,
        env=genesis_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3 and "Traceback" not in done.stderr
    assert "caf\\xe9.txt" in done.stdout


def test_uncommitted_changes_in_a_checked_out_target_are_named_not_retried(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The user edits the checked-out target while the queue runs (here: during the first merge
    check): the queue says which file is in the way and what to do, and stops trying."""
    checks = tmp_path / "checks"
    check = py(f"""
        import pathlib
        with open({str(checks)!r}, 'a') as f:
            f.write('x')
        pathlib.Path({str(repo / "README.md")!r}).write_text("the user's edit\\n")
    """)
    plan = write_plan(
        repo,
        f"""
        [merge]
        check = {check}

        [[tasks]]
        id = "a"
        command = {writer("README.md", "from a")}

        [[tasks]]
        id = "b"
        command = {writer("b.txt", "b")}
    """,
        header='[run]\nname = "dirty"\n',
    )
    before = git(repo, "rev-parse", "main")
    code, result = run_json(repo, plan, capsys, into="main")
    assert code == 3, result
    unmerged = {u["task"]: u["reason"] for u in result["merge"]["unmerged"]}
    assert set(unmerged) == {"a", "b"}
    for reason in unmerged.values():
        assert "uncommitted changes in" in reason and "(README.md)" in reason
        assert "commit or stash them" in reason
    assert checks.read_text() == "x"  # one check: no retries, and b was not tried
    assert git(repo, "rev-parse", "main") == before
    assert (repo / "README.md").read_text() == "the user's edit\n"
