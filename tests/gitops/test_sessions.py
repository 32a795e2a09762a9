"""gitops.sessions: the long-lived update-ref gives git's verdicts and words, survives being
killed, never follows a symbolic ref, and ends with genesis-par, even a SIGKILLed one."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from genesis_par import gitops
from genesis_par.errors import GitError
from genesis_par.gitops import sessions
from tests.conftest import commit, git, wait_for


def session_pids(git_dir: Path) -> list[int]:
    """The long-lived git processes of ours working on git_dir."""
    return [
        p.pid
        for p in psutil.Process().children()
        if p.name() == "git" and f"--git-dir={git_dir}" in p.cmdline()
    ]


def test_creates_and_moves_a_ref_with_its_reflog(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    second = commit(repo, {"b.txt": "b\n"})
    git_dir = repo / ".git"
    sessions.update_ref(git_dir, "refs/heads/t", first, None, "made", create_reflog=True)
    sessions.update_ref(git_dir, "refs/heads/t", second, first, "moved")
    assert git(repo, "rev-parse", "t") == second
    assert git(repo, "reflog", "show", "--format=%gs", "t").splitlines() == ["moved", "made"]
    assert len(session_pids(git_dir)) == 2  # one a message, each kept for the next update


def test_git_refuses_a_stale_old_value_in_its_own_words_and_the_next_update_works(
    repo: Path,
) -> None:
    first = git(repo, "rev-parse", "HEAD")
    second = commit(repo, {"b.txt": "b\n"})
    git_dir = repo / ".git"
    with pytest.raises(GitError, match="reference already exists") as caught:
        sessions.update_ref(git_dir, "refs/heads/main", first, None, "m")
    assert "update-ref" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(GitError, match=f"is at {second} but expected {first}"):
        sessions.update_ref(git_dir, "refs/heads/main", first, first, "m")
    assert git(repo, "rev-parse", "main") == second
    sessions.update_ref(git_dir, "refs/heads/main", first, second, "m")
    assert git(repo, "rev-parse", "main") == first


@pytest.mark.parametrize("when", ["between updates", "stopped"])
def test_an_update_goes_through_after_its_process_was_killed(repo: Path, when: str) -> None:
    """An agent may `pkill git`, or stop it (SIGSTOP): the update is made by a process of
    its own, once, and the next one by a new session."""
    first = git(repo, "rev-parse", "HEAD")
    second = commit(repo, {"b.txt": "b\n"})
    git_dir = repo / ".git"
    sessions.update_ref(git_dir, "refs/heads/t", first, None, "m")
    (pid,) = session_pids(git_dir)
    os.kill(pid, signal.SIGSTOP if when == "stopped" else signal.SIGKILL)
    sessions.update_ref(git_dir, "refs/heads/t", second, first, "m", timeout_s=1.0)
    assert git(repo, "rev-parse", "t") == second
    sessions.update_ref(git_dir, "refs/heads/t", first, second, "m")
    assert git(repo, "rev-parse", "t") == first
    assert pid not in session_pids(git_dir)
    wait_for(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
        "the old session to end",
    )


def test_a_symbolic_ref_is_replaced_never_followed(repo: Path) -> None:
    """An agent made the task's branch a link to main: the update writes the task's ref
    itself (no-deref) and main stays."""
    main = git(repo, "rev-parse", "main")
    other = commit(repo, {"b.txt": "b\n"})
    git(repo, "reset", "-q", "--hard", main)
    git(repo, "symbolic-ref", "refs/heads/t", "refs/heads/main")
    sessions.update_ref(repo / ".git", "refs/heads/t", other, main, "m")
    assert git(repo, "rev-parse", "main") == main
    assert (repo / ".git" / "refs" / "heads" / "t").read_text().strip() == other


def test_the_processes_end_with_a_sigkilled_genesis_par(repo: Path, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = textwrap.dedent(
        f"""
        import os, pathlib, psutil, time
        from genesis_par.gitops import sessions
        head = {git(repo, "rev-parse", "HEAD")!r}
        sessions.update_ref(pathlib.Path({str(repo / ".git")!r}), "refs/heads/k", head, None, "m")
        kids = [p.pid for p in psutil.Process().children() if p.name() == "git"]
        pathlib.Path({str(pids)!r}).write_text(" ".join(map(str, kids)))
        time.sleep(120)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": str(Path(sessions.__file__).parents[2])},
    )
    try:
        wait_for(lambda: pids.exists() and pids.read_text(), "the session to start")
        (pid,) = map(int, pids.read_text().split())
        child.kill()
        child.wait(30)
    finally:
        child.kill()
    wait_for(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
        "the session to end with its parent",
    )


def test_a_repository_made_again_at_the_same_path_gets_a_process_of_its_own(
    tmp_path: Path,
) -> None:
    """A SHA-1 repository removed and made again with SHA-256 at the same path (tests, or
    `rm -rf` and a new clone): the first one's process must not serve the second."""
    path = tmp_path / "again"
    for object_format in ("sha1", "sha256"):
        if path.exists():
            shutil.rmtree(path)
        path.mkdir()
        git(path, "init", "-q", "-b", "main", f"--object-format={object_format}")
        head = commit(path, {"a.txt": object_format})
        sessions.update_ref(path / ".git", "refs/heads/t", head, None, "m")
        assert git(path, "rev-parse", "t") == head


def test_work_is_recorded_when_the_session_was_killed(repo: Path) -> None:
    """The branch moves through the long-lived update-ref; killed, a process of its own moves
    it, and the commit holds the work either way (its tree as git write-tree makes it)."""
    start = git(repo, "rev-parse", "HEAD")
    worktree = repo.parent / "wt"
    git(repo, "worktree", "add", "-q", "-b", "t", str(worktree), start)
    for n in range(2):
        (worktree / "sub").mkdir(exist_ok=True)
        (worktree / "sub" / f"f{n}.txt").write_text(f"{n}\n")
        if n == 1:
            for pid in session_pids(repo / ".git"):
                os.kill(pid, signal.SIGKILL)
        done = gitops.commit_all(worktree, f"work {n}", start, branch="t")
        assert git(repo, "show", f"{done.commit}:sub/f{n}.txt") == str(n)
        assert git(repo, "rev-parse", f"{done.commit}^{{tree}}") == git(worktree, "write-tree")
    assert git(repo, "fsck", "--no-dangling") == ""
