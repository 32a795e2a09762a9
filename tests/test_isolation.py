"""Attacks on the isolation promise: whatever an agent or the environment does with git,
genesis-par's own git calls never reach the user's branches, HEAD, index, files or hooks."""

from __future__ import annotations

import importlib
import json
import os
import stat
import subprocess
import threading
from pathlib import Path
from typing import Any

import psutil
import pytest

from genesis_par import gitops
from genesis_par.commands import run as run_cmd
from genesis_par.commands import worktrees as worktrees_cmd
from genesis_par.errors import EnvironmentProblem, GenesisError, GitError
from genesis_par.gitops.run import _run_git
from tests import plans
from tests.conftest import branch, commit, git, wait_for
from tests.helpers import user_files
from tests.plans import py

REPO_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")


def write_plan(repo: Path, run: str, body: str, run_keys: str = "") -> Path:
    return plans.write_plan(repo, body, f"{run}.toml", f'[run]\nname = "{run}"\n{run_keys}\n')


def run_json(
    repo: Path, plan: Path, capsys: pytest.CaptureFixture[str], **kw: object
) -> tuple[int, dict[str, dict[str, object]]]:
    code, result = plans.run_json(repo, plan, capsys, **kw)
    return code, plans.tasks_by_id(result)


def add_user_work(repo: Path) -> None:
    """Staged, unstaged and untracked work of the user's, in the main checkout."""
    commit(repo, {"a.txt": "a\n", "b.txt": "b\n"}, "user files")
    (repo / "a.txt").write_text("staged\n")
    git(repo, "add", "a.txt")
    (repo / "b.txt").write_text("unstaged\n")
    (repo / "new.txt").write_text("untracked\n")


def user_state(repo: Path, skip_refs: tuple[str, ...] = ()) -> dict[str, Any]:
    """Everything of the user's that genesis-par must leave as it was."""
    ours = ("refs/heads/genesis/", "refs/genesis/", *skip_refs)
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname) %(symref)").splitlines()
    files = user_files(repo)
    return {
        "refs": [r for r in refs if not r.startswith(ours)],
        "head": git(repo, "rev-parse", "HEAD"),
        "symbolic": git(repo, "symbolic-ref", "HEAD"),
        "index": git(repo, "ls-files", "-s"),
        "status": git(repo, "status", "--porcelain"),
        "config": (repo / ".git" / "config").read_text(),
        "files": files,
    }


# --- an agent that breaks its worktree's link to the repository ---

BREAK_GIT_LINK = {
    "deleted": "import os; os.remove('.git')",
    "pointed at the main repository": (
        "import os; open('.git', 'w').write('gitdir: ' + os.environ['MAIN_GIT'] + '\\n')"
    ),
    "replaced by git init": (
        "import os, subprocess; os.remove('.git'); subprocess.run(['git', 'init', '-q'], check=True)"
    ),
}


@pytest.mark.parametrize("how", sorted(BREAK_GIT_LINK))
def test_an_agent_that_breaks_its_dot_git_fails_alone_and_the_user_keeps_everything(
    repo: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    add_user_work(repo)
    before = user_state(repo)
    rogue = BREAK_GIT_LINK[how] + "; open('r.txt', 'w').write('rogue')"
    plan = write_plan(
        repo,
        "brk",
        f"""
        [[tasks]]
        id = "rogue"
        command = {py(rogue)}
        env = {{ MAIN_GIT = "{repo / ".git"}" }}

        [[tasks]]
        id = "good"
        command = {py("open('g.txt', 'w').write('good')")}
    """,
    )
    code, tasks = run_json(repo, plan, capsys)
    assert code == 1
    assert tasks["rogue"]["status"] == "failed"
    assert tasks["rogue"]["failure"] == "worktree"
    reason = str(tasks["rogue"]["reason"])
    assert ".git was removed or replaced" in reason and "\n" not in reason
    assert tasks["good"]["status"] == "succeeded"
    assert git(repo, "show", "genesis/brk/integration:g.txt") == "good"
    assert user_state(repo) == before


def test_a_dot_git_that_cannot_be_put_back_never_sends_the_fence_to_the_users_head(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Put back fails where the agent made its worktree read-only (a file system fault here:
    the tests run as root, whom no mode stops); git run in that folder would find the user's
    repository above it, and the fence must not detach the user's HEAD there."""
    fence = importlib.import_module("genesis_par.gitops.guard")  # gitops.guard: the function

    def cannot_put_back(scope: gitops.Scope, link: bytes | None) -> list[str]:
        return [f"its agent removed {scope.worktree / '.git'}, which could not be put back"]

    monkeypatch.setattr(fence, "_restore_link", cannot_put_back)
    add_user_work(repo)
    before = user_state(repo)
    agent = py(BREAK_GIT_LINK["deleted"])
    plan = write_plan(repo, "ro", f'[[tasks]]\nid = "t"\ncommand = {agent}\n')
    code, tasks = run_json(repo, plan, capsys)
    assert code == 1 and tasks["t"]["status"] == "failed", tasks
    assert user_state(repo) == before


# --- an agent that moves its worktree's HEAD to another branch ---


@pytest.mark.parametrize("checkout", ["git checkout -q feature", "git checkout -q -b mine"])
def test_an_agent_on_another_branch_gets_its_work_recorded_on_the_task_branch_only(
    repo: Path, capsys: pytest.CaptureFixture[str], checkout: str
) -> None:
    feature = branch(repo, "feature", {"f.txt": "feature\n"})
    add_user_work(repo)
    before = user_state(repo, skip_refs=("refs/heads/feature", "refs/heads/mine"))
    agent = f"{checkout} && echo agent > x.txt && git add x.txt && git commit -qm agent"
    agent += " && echo more > y.txt"
    plan = write_plan(repo, "co", f'[[tasks]]\nid = "t"\ncommand = "{agent}"\n')
    code, tasks = run_json(repo, plan, capsys)
    if "feature" in checkout:  # committing on the user's branch is refused by the fence
        assert code == 1, tasks
        assert tasks["t"]["failure"] == "escaped", tasks
        assert git(repo, "rev-parse", "feature") == feature
        assert user_state(repo, skip_refs=("refs/heads/feature", "refs/heads/mine")) == before
        return
    assert code == 0, tasks
    moved = "mine"
    # the agent's own commit may have moved that branch (or it was put back); ours never does
    tip = git(repo, "for-each-ref", "--format=%(objectname)", f"refs/heads/{moved}")
    assert tip in ("", feature) or git(repo, "log", "-1", "--format=%s", tip) == "agent"
    assert git(repo, "show", "genesis/co/t:x.txt") == "agent"
    assert git(repo, "show", "genesis/co/t:y.txt") == "more"
    assert git(repo, "log", "-1", "--format=%s", "genesis/co/t") == "genesis-par: t"
    worktree = repo / ".genesis" / "worktrees" / "co" / "t"
    assert git(worktree, "symbolic-ref", "HEAD") == "refs/heads/genesis/co/t"
    assert git(worktree, "status", "--porcelain") == ""
    assert user_state(repo, skip_refs=("refs/heads/feature", "refs/heads/mine")) == before


def test_a_retry_after_an_agent_checked_out_a_user_branch_leaves_that_branch_alone(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feature = branch(repo, "feature", {"f.txt": "feature\n"})
    before = user_state(repo)
    flaky = (
        "if [ -e ../tried ]; then echo ok > ok.txt; "
        "else touch ../tried; git checkout -q feature; echo junk > f.txt; exit 1; fi"
    )
    plan = write_plan(repo, "rt", f'[[tasks]]\nid = "t"\nretries = 1\ncommand = "{flaky}"\n')
    code, tasks = run_json(repo, plan, capsys)
    assert code == 0, tasks
    assert git(repo, "rev-parse", "feature") == feature
    assert git(repo, "show", "refs/genesis/rt/t/attempt-1:f.txt") == "junk"
    assert git(repo, "show", "genesis/rt/t:ok.txt") == "ok"
    assert user_state(repo) == before


# --- repository-locating variables inherited from a hook or alias ---


@pytest.mark.parametrize(
    "names", [("GIT_DIR",), ("GIT_DIR", "GIT_WORK_TREE"), ("GIT_INDEX_FILE",)], ids=str
)
def test_inherited_git_variables_never_redirect_genesis_par_or_its_agents(
    repo: Path, capsys: pytest.CaptureFixture[str], names: tuple[str, ...]
) -> None:
    add_user_work(repo)
    before = user_state(repo)
    plan = write_plan(
        repo,
        "env",
        f"""
        [[tasks]]
        id = "plain"
        command = {py("open('p.txt', 'w').write('plain')")}

        [[tasks]]
        id = "gitty"
        command = "echo gitty > q.txt && git add q.txt && git commit -qm gitty"
    """,
    )
    values = {
        "GIT_DIR": str(repo / ".git"),
        "GIT_WORK_TREE": str(repo),
        "GIT_INDEX_FILE": str(repo / ".git" / "index"),
    }
    with pytest.MonkeyPatch.context() as mp:
        for name in names:
            mp.setenv(name, values[name])
        code, tasks = run_json(repo, plan, capsys, env=dict(os.environ))
    assert code == 0, tasks
    assert git(repo, "show", "genesis/env/integration:p.txt") == "plain"
    assert git(repo, "show", "genesis/env/integration:q.txt") == "gitty"
    assert user_state(repo) == before


def test_each_git_call_takes_the_environment_as_it_is_at_that_call(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """genesis-par keeps the environment it cleaned between calls (issue 19): a variable set
    or removed since the last call still counts, and a locating one is still dropped."""
    _run_git(["rev-parse", "HEAD"], repo)
    config = tmp_path / "global.config"
    config.write_text("[user]\n\tmarker = set-later\n")
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    assert _run_git(["config", "--global", "user.marker"], repo).stdout.strip() == "set-later"
    monkeypatch.delenv("GIT_CONFIG_GLOBAL")
    assert _run_git(["config", "--global", "user.marker"], repo, check=False).stdout == ""


# --- hooks: the user's are for the user's commands ---

HOOKS = (
    "post-checkout",
    "post-commit",
    "post-merge",
    "pre-commit",
    "reference-transaction",
    "pre-auto-gc",
)


def write_hooks(folder: Path, marker: Path, body: str = "") -> None:
    """Hooks that append their name to marker (then do body: hang, fail)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in HOOKS:
        hook = folder / name
        hook.write_text(f'#!/bin/sh\necho "{name}" >> "{marker}"\n{body}\n')
        hook.chmod(hook.stat().st_mode | stat.S_IXUSR)


def test_the_users_hooks_never_run_for_genesis_pars_own_git_calls(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "hooks-ran"
    write_hooks(repo / ".git" / "hooks", marker, body="sleep 5; exit 1")
    plan = write_plan(
        repo,
        "hk",
        f"""
        [[tasks]]
        id = "a"
        command = {py("open('a.txt', 'w').write('a')")}

        [[tasks]]
        id = "b"
        command = {py("open('b.txt', 'w').write('b')")}
    """,
    )
    code, tasks = run_json(repo, plan, capsys)
    assert code == 0, tasks
    assert git(repo, "show", "genesis/hk/integration:b.txt") == "b"
    assert not marker.exists(), marker.read_text()


def test_hooks_an_agent_points_core_hookspath_at_never_run_for_later_git_calls(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "hooks-ran"
    write_hooks(tmp_path / "evil-hooks", marker)
    plan = write_plan(
        repo,
        "hp",
        f"""
        [[tasks]]
        id = "evil"
        command = "git config core.hooksPath {tmp_path / "evil-hooks"} && echo e > e.txt"

        [[tasks]]
        id = "later"
        depends_on = ["evil"]
        command = {py("open('l.txt', 'w').write('l')")}
    """,
        run_keys="max_parallel = 1",
    )
    code, tasks = run_json(repo, plan, capsys)
    assert code == 1, tasks
    assert (
        tasks["evil"]["failure"] == "escaped"
        and "core.hookspath" in str(tasks["evil"]["reason"]).lower()
    )
    assert "hooksPath" not in (repo / ".git" / "config").read_text()  # put back
    assert not marker.exists(), marker.read_text()


# --- signing: our bookkeeping commits never need the user's key ---


def test_commit_gpgsign_without_a_usable_key_fails_no_task(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gpg = tmp_path / "gpg"
    gpg.write_text("#!/bin/sh\necho 'gpg: no secret key' >&2\nexit 2\n")
    gpg.chmod(0o755)
    git(repo, "config", "commit.gpgSign", "true")
    git(repo, "config", "user.signingKey", "BOGUS0000")
    git(repo, "config", "gpg.program", str(gpg))
    plan = write_plan(
        repo,
        "sg",
        f"""
        [[tasks]]
        id = "a"
        command = {py("open('a.txt', 'w').write('a')")}

        [[tasks]]
        id = "b"
        command = {py("open('b.txt', 'w').write('b')")}
    """,
    )
    code, tasks = run_json(repo, plan, capsys)
    assert code == 0, tasks
    assert git(repo, "show", "genesis/sg/integration:a.txt") == "a"
    assert git(repo, "show", "genesis/sg/integration:b.txt") == "b"


# --- bounded git calls ---


def test_a_hanging_git_call_times_out_naming_the_command_and_its_tree_is_stopped(
    repo: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "filter.pid"
    filt = tmp_path / "hang-filter"
    filt.write_text(f'#!/bin/sh\necho $$ > "{pid_file}"\nexec sleep 60\n')
    filt.chmod(0o755)
    git(repo, "config", "filter.hang.clean", str(filt))
    (repo / ".gitattributes").write_text("*.bin filter=hang\n")
    (repo / "x.bin").write_text("data\n")
    with pytest.raises(GitError) as caught:
        _run_git(["add", "--all"], repo, timeout_s=1.0)
    message = str(caught.value)
    assert "git add --all" in message and "timed out after 1 s" in message
    assert str(repo) in message and "\n" not in message
    pid = int(pid_file.read_text())

    def gone() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_for(gone, "the hung filter to be stopped", bound=10)


def test_a_short_time_limit_is_kept_while_a_longer_one_is_watched(
    repo: Path, tmp_path: Path
) -> None:
    """One thread watches every call: a call with a short limit, started while it waits for
    a long one, still times out on time, and the long one still ends on its own."""
    go = tmp_path / "go"
    holding = tmp_path / "holding"
    slow = tmp_path / "slow-filter"
    slow.write_text(
        f'#!/bin/sh\ntouch "{holding}"\ni=0\n'
        f'while [ ! -e "{go}" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\ncat\n'
    )
    hang = tmp_path / "hang-filter"
    hang.write_text("#!/bin/sh\nexec sleep 60\n")
    for f in (slow, hang):
        f.chmod(0o755)
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(repo), str(other)], check=True)
    for r, name in ((repo, slow), (other, hang)):
        git(r, "config", "filter.f.clean", str(name))
        (r / ".gitattributes").write_text("*.bin filter=f\n")
        (r / "x.bin").write_text("data\n")
    outcome: list[object] = []
    long_call = threading.Thread(
        target=lambda: outcome.append(_run_git(["add", "--all"], repo, timeout_s=600.0))
    )
    long_call.start()
    try:
        wait_for(holding.exists, "the long call's filter to start", bound=30)
        with pytest.raises(GitError, match="timed out after 1 s"):
            _run_git(["add", "--all"], other, timeout_s=1.0)
        assert long_call.is_alive() and not go.exists()
    finally:
        go.touch()
        long_call.join(30)
    assert not long_call.is_alive()
    assert len(outcome) == 1 and getattr(outcome[0], "returncode", None) == 0


# --- messages that used to mislead (issue 20) ---


def test_a_bare_repository_is_named_as_bare(tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    with pytest.raises(EnvironmentProblem) as caught:
        gitops.discover(bare)
    message = str(caught.value)
    assert caught.value.exit_code == 4 and "\n" not in message
    assert "bare repository" in message and "work tree" in message
    assert "not inside a git repository" not in message


def test_a_missing_worktree_folder_is_named_not_blamed_on_git(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    branch(repo, "feature", {"f.txt": "f\n"})
    gone = tmp_path / "feature-wt"
    git(repo, "worktree", "add", "-q", str(gone), "feature")
    subprocess.run(["rm", "-rf", str(gone)], check=True)
    plan = write_plan(repo, "mw", f'[[tasks]]\nid = "t"\ncommand = {py("pass")}\n')
    with pytest.raises(GenesisError) as caught:
        run_cmd.run(repo, plan, as_json=True, into="feature")
    message = str(caught.value)
    assert caught.value.exit_code == 4 and "\n" not in message
    assert str(gone) in message and "does not exist" in message
    assert "not installed" not in message


def test_git_run_in_a_missing_folder_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentProblem) as caught:
        _run_git(["status"], tmp_path / "gone")
    message = str(caught.value)
    assert str(tmp_path / "gone") in message and "not installed" not in message


def test_a_git_failure_without_output_gives_its_exit_code_and_command(repo: Path) -> None:
    with pytest.raises(GitError) as caught:
        _run_git(["rev-parse", "--verify", "--quiet", "no-such-ref"], repo)
    message = str(caught.value)
    assert "no output" not in message
    assert "git rev-parse --verify --quiet no-such-ref" in message and "code 1" in message


def test_a_leftover_index_lock_is_named_with_its_full_path(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = """
        import subprocess
        args = ['git', 'rev-parse', '--path-format=absolute', '--git-path', 'index.lock']
        open(subprocess.run(args, capture_output=True, text=True).stdout.strip(), 'w').close()
        open('w.txt', 'w').write('work')
    """
    plan = write_plan(repo, "lk", f'[[tasks]]\nid = "t"\ncommand = {py(agent)}\n')
    code, tasks = run_json(repo, plan, capsys)
    assert code == 1
    reason = str(tasks["t"]["reason"])
    lock = repo / ".git" / "worktrees" / "t" / "index.lock"
    assert str(lock) in reason and "no git process" in reason
    assert "remove the file manually" not in reason


def test_an_agent_that_deletes_its_task_branch_is_refused_and_fails_with_history(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = "git checkout -q --detach && git branch -q -D genesis/del/t; echo w > w.txt"
    plan = write_plan(repo, "del", f'[[tasks]]\nid = "t"\ncommand = "{agent}"\n')
    code, tasks = run_json(repo, plan, capsys)
    assert code == 1, tasks
    assert tasks["t"]["failure"] == "history", tasks
    git(repo, "rev-parse", "--verify", "genesis/del/t")  # still there


def test_worktrees_list_and_gc_keep_a_worktree_whose_dot_git_points_at_the_user_repository(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(repo, "gcb", '[[tasks]]\nid = "t"\ncommand = "echo r > r.txt"\n')
    assert run_json(repo, plan, capsys)[0] == 0
    # the fence puts a replaced .git back when an agent ends; a process it left (or anyone)
    # can still replace it later, and list/gc must then never follow it
    worktree = repo / ".genesis" / "worktrees" / "gcb" / "t"
    (worktree / ".git").write_text(f"gitdir: {repo / '.git'}\n")
    add_user_work(repo)
    before = user_state(repo)
    assert worktrees_cmd.list_(repo, as_json=True) == 0
    listed = json.loads(capsys.readouterr().out)["worktrees"]
    assert [w["state"] for w in listed if w["task"] == "t"] == ["broken"]
    assert worktrees_cmd.gc(repo, as_json=True) == 0
    kept = json.loads(capsys.readouterr().out)["kept"]
    assert [k["task"] for k in kept] == ["t"]
    assert (repo / ".genesis" / "worktrees" / "gcb" / "t" / "r.txt").exists()
    assert user_state(repo) == before


def test_the_users_own_checkouts_are_found_with_a_separate_git_dir_too(tmp_path: Path) -> None:
    """A main worktree whose .git is a file (--separate-git-dir, a submodule) is the user's."""
    work, store = tmp_path / "work", tmp_path / "store.git"
    git(tmp_path, "init", "-q", "-b", "main", f"--separate-git-dir={store}", str(work))
    first = commit(work, {"f.txt": "1\n"})
    second = commit(work, {"f.txt": "2\n"})
    git(work, "reset", "-q", "--hard", first)
    assert gitops.is_clean(work) and gitops.head(work) == first
    assert gitops.try_fast_forward(work, first, second)
    assert (work / "f.txt").read_text() == "2\n"
    (work / "sub").mkdir()
    git(work, "checkout", "-q", "--detach")
    assert gitops.current_target(work / "sub") == second
    with pytest.raises(gitops.WorktreeBroken):  # never accepted for a task's worktree
        gitops.reset_worktree(work, first)


# --- symbolic refs: git 2.39 runs no reference-transaction hook for `git symbolic-ref` ---

SYMBOLIC = {
    "its branch to the user's main": "git symbolic-ref refs/heads/genesis/sy/t refs/heads/main",
    "the user's main to its branch": "git symbolic-ref refs/heads/main refs/heads/genesis/sy/t",
    "a user branch to another": "git symbolic-ref refs/heads/feature refs/heads/main",
    "a new branch to main": "git symbolic-ref refs/heads/alias refs/heads/main",
}


@pytest.mark.parametrize("retry", [False, True], ids=["once", "retried"])
@pytest.mark.parametrize("link", sorted(SYMBOLIC))
def test_a_symbolic_ref_an_agent_makes_is_put_back_and_no_user_branch_moves(
    repo: Path, capsys: pytest.CaptureFixture[str], link: str, retry: bool
) -> None:
    """Left in place, the link would carry genesis-par's commit of the task's work (or a
    retry's reset) to the user's main."""
    branch(repo, "feature", {"f.txt": "feature\n"})
    before = user_state(repo)
    agent = f"{SYMBOLIC[link]} && echo w > w.txt && git add w.txt && git commit -qm agent"
    if retry:
        agent = (
            f"if [ -e ../tried ]; then echo ok > ok.txt; else touch ../tried; {agent}; exit 1; fi"
        )
    plan = write_plan(repo, "sy", f'[[tasks]]\nid = "t"\nretries = 1\ncommand = "{agent}"\n')
    code, tasks = run_json(repo, plan, capsys)
    assert code == 1, tasks
    assert tasks["t"]["failure"] == "escaped", tasks
    assert "a symbolic ref to" in str(tasks["t"]["reason"]), tasks
    assert user_state(repo) == before
    assert git(repo, "for-each-ref", "--format=%(symref)", "refs/heads/") == ""


def test_a_retry_reset_never_follows_a_task_branch_linked_to_the_users_main(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Even a link made after the fence looked (by another task's agent) is not followed."""
    plan = write_plan(repo, "rl", '[[tasks]]\nid = "t"\ncommand = "echo w > w.txt"\n')
    assert run_json(repo, plan, capsys)[0] == 0
    start = git(repo, "rev-parse", "main")
    main = commit(repo, {"user.txt": "user\n"}, "user work")
    git(repo, "symbolic-ref", "refs/heads/genesis/rl/t", "refs/heads/main")
    worktree = repo / ".genesis" / "worktrees" / "rl" / "t"
    gitops.reset_worktree(worktree, start, branch="genesis/rl/t")
    assert git(repo, "rev-parse", "main") == main
    assert git(repo, "rev-parse", "genesis/rl/t") == start
    assert git(worktree, "symbolic-ref", "HEAD") == "refs/heads/genesis/rl/t"


def test_recording_work_never_follows_a_task_branch_linked_to_the_users_main(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(repo, "cl", '[[tasks]]\nid = "t"\ncommand = "echo w > w.txt"\n')
    assert run_json(repo, plan, capsys)[0] == 0
    main = git(repo, "rev-parse", "main")
    git(repo, "symbolic-ref", "refs/heads/genesis/cl/t", "refs/heads/main")
    worktree = repo / ".genesis" / "worktrees" / "cl" / "t"
    (worktree / "more.txt").write_text("more\n")
    done = gitops.commit_all(worktree, "more", main, branch="genesis/cl/t")
    assert git(repo, "rev-parse", "main") == main
    assert git(repo, "rev-parse", "genesis/cl/t") == done.commit != main
    assert git(repo, "for-each-ref", "--format=%(symref)", "refs/heads/genesis/") == ""
