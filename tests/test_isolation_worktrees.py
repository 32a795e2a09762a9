"""What agents leave in their worktrees never reaches another task, and gc loses none of it:
submodule folders, nested repositories, stopped operations, live processes, crashed folders,
file names that are not UTF-8."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from genesis_par.commands import worktrees as wt_cmd
from genesis_par.errors import UsageError
from tests.conftest import genesis_cmd, genesis_env, git, wait_for
from tests.helpers import gc_json, gp
from tests.plans import py, run_json, tasks_by_id, write_plan


def by_task(entries: Any) -> dict[str, dict[str, Any]]:
    return {e["task"]: e for e in entries}


def add_submodule(repo: Path) -> None:
    """A real submodule at lib/ (a local repository), committed in repo."""
    lib = repo.parent / "lib"
    lib.mkdir()
    git(lib, "init", "-q", "-b", "main")
    (lib / "lib.txt").write_text("library\n")
    git(lib, "add", "-A")
    git(lib, "commit", "-q", "-m", "lib")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "lib")
    git(repo, "commit", "-q", "-m", "add the lib submodule")


def test_files_in_a_submodule_folder_fail_the_task_are_kept_and_never_reach_another_run(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_submodule(repo)
    agent = py(
        "import os; assert os.listdir('lib') == [], os.listdir('lib'); "
        "open('lib/secret.txt', 'w').write('written where git does not look')"
    )
    plan = write_plan(repo, f'[[tasks]]\nid = "w"\ncommand = {agent}\n', header='[run]\nname="s1"')
    code, result = run_json(repo, plan, capsys)
    task = tasks_by_id(result)["w"]
    assert code == 1 and task["failure"] == "commit", task
    assert "lib/secret.txt" in str(task["reason"]) and "submodule folder" in str(task["reason"])
    kept = by_task(gc_json(repo, capsys)["kept"])
    assert str(kept["w"]["reason"]).startswith("uncommitted changes")
    # the next run (pool on) starts from an empty submodule folder: its agent asserts it
    plan2 = write_plan(
        repo, f'[[tasks]]\nid = "w"\ncommand = {agent}\n', name="s2.toml", header='[run]\nname="s2"'
    )
    result2 = run_json(repo, plan2, capsys)[1]
    assert tasks_by_id(result2)["w"]["failure"] == "commit", result2  # not an assertion error
    forced = by_task(gc_json(repo, capsys, force=True)["removed"])
    saved = str(forced["w"]["saved"])
    assert git(repo, "show", f"{saved}:lib/secret.txt") == "written where git does not look"


def test_a_nested_repository_fails_the_task_and_gc_never_destroys_its_commits(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sha_file = tmp_path / "nested-sha"
    agent = py(f"""
        import subprocess
        def g(*a): subprocess.run(['git', *a], cwd='nested', check=True, capture_output=True)
        import os; os.makedirs('nested')
        g('init', '-q'); open('nested/n.txt', 'w').write('only in the nested repository')
        g('add', '-A'); g('commit', '-q', '-m', 'nested work')
        sha = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd='nested', capture_output=True,
                             text=True).stdout.strip()
        open({str(sha_file)!r}, 'w').write(sha)
    """)
    plan = write_plan(repo, f'[[tasks]]\nid = "n"\ncommand = {agent}\n', header='[run]\nname="n1"')
    code, result = run_json(repo, plan, capsys)
    task = tasks_by_id(result)["n"]
    sha = sha_file.read_text()
    assert code == 1 and task["failure"] == "commit", task
    assert "nested/" in str(task["reason"]) and sha[:12] in str(task["reason"])
    kept = by_task(gc_json(repo, capsys)["kept"])
    assert "git repository of its own" in str(kept["n"]["reason"])
    forced = by_task(gc_json(repo, capsys, force=True)["removed"])
    aside = Path(str(forced["n"]["what"]).split("nested/ to ")[1].split(" (")[0].split(";")[0])
    assert git(aside, "cat-file", "-t", sha) == "commit"  # its commits live on, moved aside
    assert git(aside, "show", f"{sha}:n.txt") == "only in the nested repository"


def test_stopped_rebase_and_bisect_are_not_pooled_and_no_later_task_sees_them(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", "second")
    leave = {
        "bisect": "git bisect start",
        "rebase": (
            "echo r > r.txt && git add r.txt && git commit -qm r && "
            "GIT_SEQUENCE_EDITOR='sed -i 1s/^pick/edit/' git rebase -q -i HEAD~1"
        ),
        "merge": (
            "git checkout -qb side && echo side > m.txt && git add m.txt && git commit -qm s && "
            "git checkout -q - && echo mine > m.txt && git add m.txt && git commit -qm m && "
            "git merge side; true"
        ),
    }
    body = "".join(f'[[tasks]]\nid = "{k}"\ncommand = {json.dumps(v)}\n' for k, v in leave.items())
    plan = write_plan(repo, body, header='[run]\nname = "st1"\n')
    run_json(repo, plan, capsys)
    removed = by_task(gc_json(repo, capsys)["removed"])
    check = py("""
        import subprocess
        def git(*a): return subprocess.run(['git', *a], capture_output=True, text=True).stdout
        gd = git('rev-parse', '--absolute-git-dir').strip()
        import os
        left = [n for n in ('rebase-merge', 'rebase-apply', 'MERGE_HEAD', 'BISECT_LOG',
                            'BISECT_START', 'CHERRY_PICK_HEAD') if os.path.exists(gd + '/' + n)]
        assert not left, left
        assert 'progress' not in git('status'), git('status')
    """)
    body2 = "".join(f'[[tasks]]\nid = "c{i}"\ncommand = {check}\n' for i in range(4))
    code, result = run_json(repo, write_plan(repo, body2, name="st2.toml"), capsys)
    assert code == 0, result
    for task in ("bisect", "rebase"):
        assert removed[task]["pooled"] is False, removed[task]
        assert "in progress" in str(removed[task]["what"]), removed[task]


def test_gc_never_touches_a_worktree_a_process_works_in_even_without_the_state(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(
        repo, f'[[tasks]]\nid = "a"\ncommand = {py("pass")}\n', header='[run]\nname="p"'
    )
    assert run_json(repo, plan, capsys)[0] == 0
    tree = repo / ".genesis" / "worktrees" / "p" / "a"
    ready = tmp_path / "ready"
    sleeper = subprocess.Popen(
        [sys.executable, "-c", f"open({str(ready)!r}, 'w').close(); import time; time.sleep(60)"],
        cwd=tree,
    )
    try:
        wait_for(ready.exists, "the sleeping process to start")
        for without_state in (False, True):
            if without_state:
                (repo / ".git" / "genesis-par" / "state.db").unlink()
            kept = by_task(gc_json(repo, capsys, force=True)["kept"])
            assert f"process {sleeper.pid} (" in str(kept["a"]["reason"]), kept
            assert (tree / ".git").exists()
        assert wt_cmd.rm(repo, "p", force=True, as_json=True) == 0
        kept = by_task(json.loads(capsys.readouterr().out)["kept"])
        assert "running in it" in str(kept["a"]["reason"]) and (tree / ".git").exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    done = by_task(gc_json(repo, capsys, force=True)["removed"])
    assert done["a"]["branch_deleted"] is True and not tree.exists()


def test_gc_with_the_state_deleted_mid_run_leaves_the_live_run_alone(
    repo: Path, tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    agent = py(f"import time; open({str(ready)!r}, 'w').close(); time.sleep(60)")
    quick = py("open('quick.txt', 'w').write('done')")
    plan = write_plan(
        repo,
        f'[[tasks]]\nid = "busy"\ncommand = {agent}\n[[tasks]]\nid = "quick"\ncommand = {quick}\n',
        header='[run]\nname = "live"\n',
    )
    main = subprocess.Popen(
        [*genesis_cmd(), "run", str(plan)],
        cwd=repo,
        env=genesis_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    trees = repo / ".genesis" / "worktrees" / "live"
    try:
        wait_for(lambda: ready.exists() or main.poll() is not None, "the agent to start")
        wait_for(lambda: (trees / "quick" / "quick.txt").exists(), "the quick task")
        wait_for(
            lambda: (
                git(repo, "rev-parse", "genesis/live/quick^{tree}")
                != git(repo, "rev-parse", "HEAD^{tree}")
            ),
            "the quick task's commit",
        )
        (repo / ".git" / "genesis-par" / "state.db").unlink()
        out = gp(repo, "worktrees", "gc", "--force", "--json")
        assert out.returncode == 0, out.stderr
        kept = by_task(json.loads(out.stdout)["kept"])
        assert "running in it" in str(kept["busy"]["reason"]), kept
        assert kept["quick"]["reason"] == "its run is still going", kept
        assert (trees / "quick" / "quick.txt").exists() and (trees / "busy" / ".git").exists()
        assert not (repo / ".genesis" / "pool").exists() or not any(
            (repo / ".genesis" / "pool").iterdir()
        )
    finally:
        main.send_signal(signal.SIGINT)
        main.wait(timeout=60)


def test_an_orphan_folder_of_committed_content_is_removed_one_with_new_work_kept(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", "x")
    base = repo / ".genesis" / "worktrees" / "crashed"
    for task, extra in (("same", None), ("linked", None), ("new", "not committed anywhere\n")):
        (base / task / "empty-dir").mkdir(parents=True)
        (base / task / "README.md").write_text("hello\n")  # as committed
        if extra:
            (base / task / "notes.txt").write_text(extra)
    # git's pointer to a worktree record that was pruned since: git's, not work
    (base / "linked" / ".git").write_text(f"gitdir: {repo / '.git' / 'worktrees' / 'gone'}\n")
    result = gc_json(repo, capsys)
    removed = by_task(result["removed"])
    for task in ("same", "linked"):
        assert removed[task]["what"] == "every file in it is committed content"
        assert not (base / task).exists()
    kept = by_task(result["kept"])
    assert "--force" in str(kept["new"]["reason"])
    assert (base / "new" / "notes.txt").read_text() == "not committed anywhere\n"


def test_file_names_that_are_not_utf8_list_gc_and_rm(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = py(
        "import os; open(os.open(b'caf\\xe9.txt', os.O_WRONLY | os.O_CREAT), 'w').write('x')"
    )
    plan = write_plan(repo, f'[[tasks]]\nid = "u"\ncommand = {agent}\n', header='[run]\nname="u8"')
    code, result = run_json(repo, plan, capsys)
    assert code == 0, result
    tree = repo / ".genesis" / "worktrees" / "u8" / "u"
    assert (
        b"caf\xe9.txt"
        in subprocess.run(
            ["git", "ls-tree", "-z", "--name-only", "genesis/u8/u"], cwd=repo, capture_output=True
        ).stdout
    )
    with open(os.open(bytes(tree) + b"/na\xefve.txt", os.O_WRONLY | os.O_CREAT), "w") as f:
        f.write("uncommitted\n")
    odd = repo / ".genesis" / "worktrees" / os.fsdecode(b"r\xe9n") / "t"
    odd.mkdir(parents=True)
    (odd / os.fsdecode(b"\xff.txt")).write_text("kept\n")
    every = (["list"], ["list", "--json"], ["list", "--pool"], ["gc", "--drain", "--dry-run"])
    for args in (*every, ["gc"], ["gc", "--json"], ["rm", "u8"]):
        out = subprocess.run(
            [*genesis_cmd(), "worktrees", *args], cwd=repo, env=genesis_env(), capture_output=True
        )
        assert out.returncode == 0 and b"Traceback" not in out.stderr, (args, out.stderr)
        if "--json" in args:
            json.loads(out.stdout)
    listed = gp(repo, "worktrees", "list", "--json")
    # JSON keeps the exact bytes (\udcXX, as conflicts --json does); text shows \xNN
    assert any(os.fsencode(w["run"]) == b"r\xe9n" for w in json.loads(listed.stdout)["worktrees"])
    assert wt_cmd.rm(repo, "u8", force=True, as_json=True) == 0
    saved = by_task(json.loads(capsys.readouterr().out)["removed"])["u"]["saved"]
    names = subprocess.run(
        ["git", "ls-tree", "-z", "--name-only", str(saved)], cwd=repo, capture_output=True
    ).stdout.split(b"\0")
    assert b"na\xefve.txt" in names and b"caf\xe9.txt" in names


def test_the_taken_name_hint_followed_literally_frees_the_name(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = py("open('a.txt', 'w').write('a')")
    plan = write_plan(
        repo,
        f'[[tasks]]\nid = "a"\ncommand = {agent}\n',
        header='[run]\nname="again"',
    )
    assert run_json(repo, plan, capsys)[0] == 0
    gc_json(repo, capsys, force=True)
    assert git(repo, "branch", "--list", "genesis/again/*").split() == ["genesis/again/integration"]
    with pytest.raises(UsageError) as taken:
        run_json(repo, plan, capsys)
    message = str(taken.value)
    assert "1 branch " in message and "1 branches" not in message
    for _ in range(3):  # follow each hint the tool prints until the name is free
        hint = message.split("`")[1]
        argv = shlex.split(hint)
        assert argv[0] == "genesis-par"
        out = gp(repo, *argv[1:])
        assert out.returncode == 0, out.stderr
        if "kept" not in out.stdout:
            break
        assert "--force" in out.stdout
        message = f"`{hint} --force`"
    assert git(repo, "branch", "--list", "genesis/again/*") == ""
    code, result = run_json(repo, plan, capsys)
    assert code == 0, result


def test_pooled_worktrees_are_said_listed_and_drained(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(
        repo, f'[[tasks]]\nid = "a"\ncommand = {py("pass")}\n', header='[run]\nname="pl"'
    )
    assert run_json(repo, plan, capsys)[0] == 0
    removed = by_task(gc_json(repo, capsys)["removed"])
    assert removed["a"]["pooled"] is True and removed["a"]["what"] == "branch deleted (landed)"
    assert wt_cmd.list_(repo) == 0
    assert "1 pooled worktree kept for reuse" in capsys.readouterr().out
    assert wt_cmd.list_(repo, pool=True, as_json=True) == 0
    (entry,) = json.loads(capsys.readouterr().out)["pool"]
    assert Path(entry["path"]).parent.name == "pool" and entry["head"]
    drained = gc_json(repo, capsys, drain=True)["drained"]
    assert drained == [entry["path"]]
    assert wt_cmd.list_(repo, pool=True, as_json=True) == 0
    assert json.loads(capsys.readouterr().out)["pool"] == []
    worktrees = [
        line
        for line in git(repo, "worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ")
    ]
    assert len(worktrees) == 1


def test_an_agent_cannot_remove_a_running_tasks_worktree(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Coding agents clean up "stale" worktrees: `git worktree remove --force` on a sibling
    task's worktree deleted its uncommitted work. While a process of a task runs, its record
    is locked, which a single --force (and move, and prune) respects."""
    flags = tmp_path / "flags"
    flags.mkdir()
    wait = "i=0; while [ ! -e {f} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done"
    a = (
        f"echo work > a.txt; touch {flags}/a-started; "
        + wait.format(f=f"{flags}/b-done")
        + "; test -f a.txt"
    )
    sibling = repo / ".genesis" / "worktrees" / "rm" / "a"
    b = (
        wait.format(f=f"{flags}/a-started")
        + f"; git worktree remove --force {sibling}; echo $? > {flags}/b-rc"
        + f"; git worktree move {sibling} {tmp_path}/moved; echo $? >> {flags}/b-rc"
        + f"; touch {flags}/b-done"
    )
    body = f'[[tasks]]\nid = "a"\ncommand = "{a}"\n\n[[tasks]]\nid = "b"\ncommand = "{b}"\n'
    plan = write_plan(repo, body, "rm.toml", '[run]\nname = "rm"\nmax_parallel = 2\n')
    code, result = run_json(repo, plan, capsys, no_merge=True)
    tasks = tasks_by_id(result)
    assert code == 0, tasks
    assert tasks["a"]["status"] == "succeeded", tasks["a"]
    assert git(repo, "show", "genesis/rm/a:a.txt") == "work"
    assert (flags / "b-rc").read_text().split() == ["128", "128"]
    assert sibling.is_dir() and not (tmp_path / "moved").exists()
    listed = git(repo, "worktree", "list", "--porcelain").splitlines()
    assert not any(line.startswith("locked") for line in listed)  # none left after the run


def test_a_running_lock_never_replaces_the_users_and_a_killed_runs_is_cleared(
    repo: Path, tmp_path: Path
) -> None:
    from genesis_par import gitops
    from genesis_par.gitops.worktree import RUNNING, hold, release

    users, ours, gone = (tmp_path / n for n in ("users", "ours", "gone"))
    for path in (users, ours, gone):
        git(repo, "worktree", "add", "-q", "--detach", str(path))
    records = {p: repo / ".git" / "worktrees" / p.name for p in (users, ours, gone)}
    git(repo, "worktree", "lock", "--reason", "the user's", str(users))
    assert not hold(records[users])  # locked already: left as the user locked it
    release(records[users])
    assert (records[users] / "locked").read_text().strip() == "the user's"
    assert hold(records[ours]) and hold(records[gone])  # as a killed run leaves them
    assert (records[ours] / "locked").read_text().strip() == RUNNING
    gitops.remove_worktree(repo, repo / ".git", ours, tmp_path / "trash")
    assert str(ours) not in git(repo, "worktree", "list", "--porcelain")
    subprocess.run(["rm", "-rf", str(gone)], check=True)
    gitops.prune_worktrees(repo, repo / ".git", dry_run=False)
    listed = git(repo, "worktree", "list", "--porcelain")
    assert str(ours) not in listed and str(gone) not in listed and str(users) in listed
