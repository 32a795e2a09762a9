"""Attacks on `[run] isolation = "clone"`: each agent works in a clone of its own, so whatever
it does with git there (branches named like the user's, config, hooks, pushes, a deleted or
replaced .git, nested repositories) leaves the user's refs, HEAD, index, working files and
config as they were; what it does to the user's repository by path is found and put back.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from genesis_par.commands import run as run_cmd
from genesis_par.commands import status as status_cmd
from genesis_par.commands import worktrees as worktrees_cmd
from genesis_par.errors import PlanError
from tests.conftest import commit, genesis_cmd, genesis_env, git, wait_for
from tests.helpers import fsck, user_files
from tests.plans import py, write_plan


def _user_state(repo: Path) -> dict[str, object]:
    """What no agent may change: refs outside genesis-par's, HEAD, index, config, files."""
    refs = git(repo, "for-each-ref", "--format=%(objectname) %(refname)").splitlines()
    files = user_files(repo)
    return {
        "refs": [r for r in refs if " refs/genesis/" not in r and " refs/heads/genesis/" not in r],
        "head": (repo / ".git" / "HEAD").read_text(),
        "index": (repo / ".git" / "index").read_bytes(),
        "config": (repo / ".git" / "config").read_text(),
        "hooks": sorted(p.name for p in (repo / ".git" / "hooks").iterdir()),
        "files": files,
    }


@pytest.fixture
def user_repo(repo: Path) -> Path:
    """main with two commits, a branch feature, a tag v0 and uncommitted work of the user's."""
    commit(repo, {"app.txt": "v1\n"}, "second")
    git(repo, "branch", "feature", "HEAD~1")
    git(repo, "tag", "v0", "HEAD~1")
    (repo / "app.txt").write_text("the user's unstaged edit\n")
    (repo / "notes.txt").write_text("the user's untracked file\n")
    return repo


def _task(task_id: str, script: str, extra: str = "") -> str:
    return f"[[tasks]]\nid = {json.dumps(task_id)}\ncommand = {json.dumps(script)}\n{extra}"


GOOD = _task("good", "echo good > good.txt")


def _run(
    repo: Path, capsys: pytest.CaptureFixture[str], body: str, name: str, keys: str = ""
) -> dict[str, dict]:  # type: ignore[type-arg]
    header = f'[run]\nname = "{name}"\nmax_parallel = 2\nisolation = "clone"\n{keys}'
    plan = write_plan(repo, body, name=f"{name}.toml", header=header)
    code = run_cmd.run(repo, plan, as_json=True)
    result = json.loads(capsys.readouterr().out)
    assert result["isolation"] == "clone"
    tasks = {t["id"]: t for t in result["tasks"]}
    assert code == (1 if any(t["status"] == "failed" for t in tasks.values()) else 0), result
    return tasks


def _landed(repo: Path, run: str, path: str) -> str:
    return git(repo, "show", f"genesis/{run}/integration:{path}")


def test_a_clone_run_lands_work_and_the_clone_has_no_way_home(
    user_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _user_state(user_repo)
    script = "echo a > a.txt && git add a.txt && git commit -qm 'agent commit' && echo b > b.txt"
    tasks = _run(user_repo, capsys, _task("t", script) + GOOD, "basic")
    assert tasks["t"]["status"] == tasks["good"]["status"] == "succeeded"
    clone = user_repo / ".genesis" / "worktrees" / "basic" / "t"
    assert (clone / ".git").is_dir()  # a repository of its own, not a worktree's link
    assert git(clone, "remote") == ""  # nothing to push to
    assert git(user_repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert (
        _landed(user_repo, "basic", "a.txt") == "a" and _landed(user_repo, "basic", "b.txt") == "b"
    )
    subjects = git(user_repo, "log", "--format=%s", "genesis/basic/t").splitlines()
    assert subjects[:2] == ["genesis-par: t", "agent commit"]  # its own commits kept
    assert _user_state(user_repo) == before
    assert status_cmd.status(user_repo, "basic", as_json=True) == 0
    assert json.loads(capsys.readouterr().out)["isolation"] == "clone"
    fsck(user_repo)


def test_branches_named_like_the_users_stay_in_the_clone_and_the_work_lands(
    user_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _user_state(user_repo)
    script = (
        "git checkout -q -b feature2 && git branch -f feature HEAD && git tag -f v0 && "
        "git checkout -q -B main && echo w > w.txt && git add w.txt && git commit -qm mine && "
        "git update-ref -d refs/heads/$GENESIS_BRANCH && git stash list"
    )
    tasks = _run(user_repo, capsys, _task("t", script) + GOOD, "names")
    assert tasks["t"]["status"] == "succeeded", tasks["t"]
    assert _landed(user_repo, "names", "w.txt") == "w"
    assert tasks["good"]["status"] == "succeeded"
    assert _user_state(user_repo) == before
    fsck(user_repo)


def test_config_hooks_and_filters_set_in_the_clone_never_run_for_genesis_par(
    user_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "marker"
    before = _user_state(user_repo)
    global_config = Path(genesis_env()["GIT_CONFIG_GLOBAL"])
    global_before = global_config.read_text()
    script = (
        f"git config core.hooksPath {tmp_path} && git config user.name evil && "
        f"git config filter.evil.clean 'touch {marker}; cat' && "
        f"git config core.fsmonitor 'touch {marker}' && "
        "mkdir -p .git/hooks && "
        f"printf '#!/bin/sh\\ntouch {marker}\\n' > .git/hooks/post-commit && "
        "chmod +x .git/hooks/post-commit && echo '* filter=evil' > .gitattributes && "
        "echo w > w.txt"
    )
    tasks = _run(user_repo, capsys, _task("t", script) + GOOD, "cfg")
    assert tasks["t"]["status"] == "succeeded", tasks["t"]
    assert not marker.exists()  # genesis-par's own git ran none of it
    assert _landed(user_repo, "cfg", "w.txt") == "w"
    clone_config = user_repo / ".genesis" / "worktrees" / "cfg" / "t" / ".git" / "config"
    assert "evil" not in clone_config.read_text()  # made genesis-par's again after the agent
    assert _user_state(user_repo) == before
    assert global_config.read_text() == global_before
    commit(user_repo, {"later.txt": "x"}, "the user's next commit")
    assert not marker.exists()
    fsck(user_repo)


def test_a_push_to_the_users_repository_by_path_is_put_back_and_fails_the_task(
    user_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _user_state(user_repo)
    script = (
        "git push -q origin HEAD:main; "  # no remote: goes nowhere
        f"git remote add up {user_repo} && echo x > x.txt && git add x.txt && git commit -qm evil "
        "&& git push -q -f up HEAD:refs/heads/feature HEAD:refs/heads/pushed; exit 0"
    )
    tasks = _run(user_repo, capsys, _task("bad", script) + GOOD, "push")
    bad = tasks["bad"]
    assert (bad["status"], bad["failure"]) == ("failed", "escaped"), bad
    assert "moved refs/heads/feature to" in bad["reason"] and "made in its clone" in bad["reason"]
    assert "refs/heads/pushed" in bad["reason"]
    assert _user_state(user_repo) == before  # feature back, pushed gone
    kept = "refs/genesis/push/bad/escaped/refs/heads/feature"
    assert git(user_repo, "log", "-1", "--format=%s", kept) == "evil"
    assert tasks["good"]["status"] == "succeeded"
    assert _landed(user_repo, "push", "good.txt") == "good"
    fsck(user_repo)


def test_git_in_the_users_checkout_is_off_limits_to_a_clone_agent(
    user_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _user_state(user_repo)
    script = f"git -C {user_repo} checkout -q feature; cd {user_repo} && git add -A; exit 3"
    tasks = _run(user_repo, capsys, _task("bad", script) + GOOD, "offl")
    assert tasks["bad"]["failure"] == "exit"
    assert "off-limits.config" in Path(tasks["bad"]["log"]).read_text()
    assert _user_state(user_repo) == before
    assert tasks["good"]["status"] == "succeeded"


@pytest.mark.parametrize(
    "attack",
    [
        "rm -rf .git",
        "rm -rf .git && git init -q && git commit -q --allow-empty -m other",
        "rm -rf .git/refs && ln -s {repo}/.git/refs .git/refs",
        "rm -rf .git/refs/heads/genesis && ln -s {repo}/.git/refs/heads/genesis .git/refs/heads/",
        "echo {repo}/.git > .git/commondir",
    ],
)
def test_a_removed_or_replaced_clone_git_dir_fails_the_task_and_keeps_its_work(
    user_repo: Path, capsys: pytest.CaptureFixture[str], attack: str
) -> None:
    before = _user_state(user_repo)
    script = f"echo w > w.txt; {attack.format(repo=user_repo)}; git status >/dev/null 2>&1; exit 0"
    tasks = _run(user_repo, capsys, _task("bad", script) + GOOD, "dotgit")
    bad = tasks["bad"]
    if "git init" in attack:  # a repository of its own inside its own clone: harmless
        assert bad["status"] == "succeeded", bad
        assert git(user_repo, "show", "genesis/dotgit/bad:w.txt") == "w"
    else:
        assert (bad["status"], bad["failure"]) == ("failed", "worktree"), bad
        assert "clone's .git was removed or replaced" in bad["reason"]
        assert git(user_repo, "show", "refs/genesis/dotgit/bad/attempt-1:w.txt") == "w"
    assert _user_state(user_repo) == before
    assert tasks["good"]["status"] == "succeeded"
    fsck(user_repo)


def test_a_nested_repository_in_a_clone_fails_the_task_with_the_reason(
    user_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = (
        "mkdir sub && cd sub && git init -q && echo n > n.txt && git add n.txt && git commit -qm n"
    )
    tasks = _run(user_repo, capsys, _task("bad", script) + GOOD, "nest")
    assert (tasks["bad"]["status"], tasks["bad"]["failure"]) == ("failed", "commit")
    assert "sub/ (commit" in tasks["bad"]["reason"]
    assert tasks["good"]["status"] == "succeeded"
    fsck(user_repo)


def test_an_agent_rewriting_its_clone_branch_without_its_start_fails_with_history(
    user_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = (
        'c=$(git commit-tree "HEAD^{{tree}}" -m unrelated) && git reset -q --hard "$c" && '
        "echo w > w.txt"
    )
    tasks = _run(user_repo, capsys, _task("bad", script) + GOOD, "hist")
    assert (tasks["bad"]["status"], tasks["bad"]["failure"]) == ("failed", "history")
    assert "without its start commit" in tasks["bad"]["reason"]
    main = git(user_repo, "rev-parse", "main")
    assert git(user_repo, "rev-parse", "genesis/hist/bad") == main  # nothing of it taken
    assert tasks["good"]["status"] == "succeeded"
    fsck(user_repo)


def test_gc_and_prune_in_the_users_repository_cannot_take_a_live_clones_start(
    user_repo: Path, tmp_path: Path
) -> None:
    """The start commit lives only in the user's repository (the clone borrows it): the task
    branch, made first, keeps it reachable while its only other ref is deleted and pruned."""
    start = commit(user_repo, {"only.txt": "here\n"}, "reachable from tmp only")
    git(user_repo, "branch", "tmp")
    git(user_repo, "reset", "-q", "--hard", "HEAD~1")
    ready, go, out = tmp_path / "ready", tmp_path / "go", tmp_path / "out"
    agent = py(f"""
        import pathlib, subprocess, time
        pathlib.Path({str(ready)!r}).touch()
        deadline = time.time() + 60
        while not pathlib.Path({str(go)!r}).exists() and time.time() < deadline:
            time.sleep(0.02)
        done = subprocess.run(["git", "fsck", "--no-dangling"], capture_output=True, text=True)
        pathlib.Path({str(out)!r}).write_text(str(done.returncode) + done.stderr)
        pathlib.Path("w.txt").write_text("w")
    """)
    body = f'[[tasks]]\nid = "t"\ncommand = {agent}\n'
    plan = write_plan(user_repo, body, header=f'[run]\nname = "gc"\nbase = "{start}"\n')
    run = subprocess.Popen(
        [*genesis_cmd(), "run", str(plan), "--json", "--no-merge", "--isolation", "clone"],
        cwd=user_repo,
        env=genesis_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(ready.exists, "the agent to start")
        git(user_repo, "branch", "-D", "tmp")
        git(user_repo, "reflog", "expire", "--expire=now", "--all")
        git(user_repo, "repack", "-q", "-a", "-d", "-n")  # `gc` minus its info/refs
        git(user_repo, "prune", "--expire=now")
        assert git(user_repo, "cat-file", "-t", start) == "commit"  # the task branch holds it
        go.touch()
        stdout, stderr = run.communicate(timeout=120)
    finally:
        run.kill()
    task = json.loads(stdout)["tasks"][0]
    assert task["status"] == "succeeded", (task, stderr)
    assert out.read_text().startswith("0"), out.read_text()
    assert git(user_repo, "show", "genesis/gc/t:only.txt") == "here"
    fsck(user_repo)


def test_best_of_candidates_run_in_clones_and_losers_are_kept(
    user_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _user_state(user_repo)
    script = 'echo "$GENESIS_WORKTREE" > w.txt; [ "${{GENESIS_WORKTREE##*~}}" = 1 ] && echo more >> w.txt; exit 0'
    tasks = _run(user_repo, capsys, _task("t", script, "best_of = 2\n") + GOOD, "bo")
    assert tasks["t"]["status"] == "succeeded"
    assert "candidate 2 of 2 won" in tasks["t"]["reason"]
    assert (user_repo / ".genesis" / "worktrees" / "bo" / "t" / ".git").is_dir()
    refs = git(user_repo, "for-each-ref", "--format=%(refname)", "refs/genesis/bo/")
    assert refs.splitlines() == ["refs/genesis/bo/t/candidate-1"]
    assert not list((user_repo / ".genesis" / "worktrees" / "bo").glob("t~*"))
    assert _user_state(user_repo) == before
    fsck(user_repo)


def test_retries_keep_each_attempt_and_reset_the_clone(
    user_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = tmp_path / "second"
    script = (
        f"echo try >> tries.txt; git add -A; git commit -qm try; "
        f"[ -e {flag} ] && exit 0; touch {flag}; exit 1"
    )
    tasks = _run(user_repo, capsys, _task("t", script, "retries = 1\n"), "retry")
    assert tasks["t"]["status"] == "succeeded" and tasks["t"]["attempts"] == 2
    assert git(user_repo, "show", "refs/genesis/retry/t/attempt-1:tries.txt") == "try"
    assert _landed(user_repo, "retry", "tries.txt") == "try"  # reset between attempts


def test_gc_never_touches_a_busy_clone_and_never_pools_one(
    user_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = _run(user_repo, capsys, GOOD, "pool")
    assert tasks["good"]["status"] == "succeeded"
    clone = user_repo / ".genesis" / "worktrees" / "pool" / "good"
    sleeper = subprocess.Popen(["sleep", "60"], cwd=clone)
    try:
        assert worktrees_cmd.gc(user_repo, as_json=True) == 0
        shown = json.loads(capsys.readouterr().out)
        (kept,) = shown["kept"]
        assert kept["reason"].startswith("process") and "running in it" in kept["reason"], shown
        assert clone.is_dir()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert worktrees_cmd.list_(user_repo, as_json=True) == 0
    listed = json.loads(capsys.readouterr().out)["worktrees"]
    assert [(w["task"], w["isolation"]) for w in listed] == [("good", "clone")]
    assert worktrees_cmd.gc(user_repo, as_json=True) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(r["task"], r["pooled"]) for r in shown["removed"]] == [("good", False)]
    assert not clone.exists() and not (user_repo / ".genesis" / "pool").exists()


def test_sigkill_mid_task_then_resume_reuses_the_clone_and_keeps_the_attempt(
    user_repo: Path, tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    agent = py(f"""
        import pathlib, time
        if pathlib.Path({str(ready)!r}).exists():
            pathlib.Path("done.txt").write_text("done")
            raise SystemExit(0)
        pathlib.Path("partial.txt").write_text("partial")
        pathlib.Path({str(ready)!r}).touch()
        time.sleep(60)
    """)
    body = f'[[tasks]]\nid = "t"\ncommand = {agent}\n'
    plan = write_plan(user_repo, body, header='[run]\nname = "kill"\nisolation = "clone"\n')
    main = subprocess.Popen(
        [*genesis_cmd(), "run", str(plan)],
        cwd=user_repo,
        env=genesis_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(ready.exists, "the agent to start")
        main.send_signal(signal.SIGKILL)
        main.wait(timeout=10)
    finally:
        main.kill()
    done = subprocess.run(
        [*genesis_cmd(), "resume", "kill", "--json"],
        cwd=user_repo,
        env=genesis_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["isolation"] == "clone"
    assert [t["status"] for t in result["tasks"]] == ["succeeded"]
    assert git(user_repo, "show", "refs/genesis/kill/t/attempt-1:partial.txt") == "partial"
    assert _landed(user_repo, "kill", "done.txt") == "done"
    fsck(user_repo)


def test_an_unknown_isolation_is_refused_with_one_line(repo: Path) -> None:
    plan = write_plan(repo, GOOD, header='[run]\nisolation = "vm"\n')
    with pytest.raises(PlanError, match='isolation "vm" is not one of worktree, clone'):
        run_cmd.run(repo, plan)
    plan = write_plan(repo, GOOD, name="ok.toml")
    done = subprocess.run(
        [*genesis_cmd(), "run", str(plan), "--isolation", "vm"],
        cwd=repo,
        env=genesis_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert '--isolation "vm" is not one of worktree, clone' in done.stderr
    assert not (repo / ".genesis").exists()
