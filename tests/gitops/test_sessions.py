"""gitops.sessions: the long-lived update-ref gives git's verdicts and words, survives being
killed, never follows a symbolic ref, and ends with genesis-par, even a SIGKILLed one."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from genesis_par import gitops
from genesis_par.errors import GitError
from genesis_par.gitops import sessions
from tests.conftest import commit, git, wait_for


def session_pids(git_dir: Path, kind: str = "update-ref") -> list[int]:
    """The long-lived git processes of ours of that kind working on git_dir."""
    found = []
    for p in psutil.Process().children():
        with contextlib.suppress(psutil.Error):  # ended (or a zombie) meanwhile
            if p.name() == "git" and {f"--git-dir={git_dir}", kind} <= set(p.cmdline()):
                found.append(p.pid)
    return found


@pytest.fixture
def one_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """An update-ref process serves past the second it started in (it would stamp the later
    reflog entries with the time of its first): so that a test knows which process serves."""
    monkeypatch.setattr(sessions, "_same_second", lambda session: True)


def test_creates_and_moves_a_ref_with_its_reflog(repo: Path, one_session: None) -> None:
    first = git(repo, "rev-parse", "HEAD")
    second = commit(repo, {"b.txt": "b\n"})
    git_dir = repo / ".git"
    sessions.update_ref(git_dir, "refs/heads/t", first, None, "made", create_reflog=True)
    sessions.update_ref(git_dir, "refs/heads/t", second, first, "moved")
    assert git(repo, "rev-parse", "t") == second
    assert git(repo, "reflog", "show", "--format=%gs", "t").splitlines() == ["moved", "made"]
    assert len(session_pids(git_dir)) == 2  # one a message, each kept for the next update
    assert len(session_pids(git_dir, "cat-file")) == 1  # the new values looked up first


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
def test_an_update_goes_through_after_its_process_was_killed(
    repo: Path, when: str, one_session: None
) -> None:
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
        gits = [int(pid) for pid in pids.read_text().split()]
        assert len(gits) == 2  # update-ref and cat-file
        child.kill()
        child.wait(30)
    finally:
        child.kill()
    wait_for(lambda: not any(map(_alive, gits)), "the sessions to end with their parent")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


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


def test_threads_sharing_a_process_each_get_their_own_outcome(
    repo: Path, one_session: None
) -> None:
    """Updates of eight threads at once through the same processes, a quarter of them with a
    stale old value (git then ends the process): each good one is made, each stale one fails
    with its own ref named, none with another's, and no thread meets a closed pipe."""
    git_dir = repo / ".git"
    start = git(repo, "rev-parse", "HEAD")
    other = commit(repo, {"b.txt": "b\n"})
    errors: dict[str, str] = {}

    def work(n: int) -> None:
        for i in range(25):
            ref = f"refs/heads/w{n}-{i}"
            stale = other if i % 4 == 0 else None  # "must be at other": it does not exist
            try:
                sessions.update_ref(git_dir, ref, start, stale, "m")
            except GitError as e:
                errors[ref] = str(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    made = {r for r in git(repo, "for-each-ref", "--format=%(refname)").split() if "/w" in r}
    stale = {f"refs/heads/w{n}-{i}" for n in range(8) for i in range(0, 25, 4)}
    assert made == {f"refs/heads/w{n}-{i}" for n in range(8) for i in range(25)} - stale
    assert set(errors) == stale
    assert all(ref in text for ref, text in errors.items())


def test_updates_go_through_while_an_agent_keeps_killing_the_long_lived_git(
    repo: Path, one_session: None
) -> None:
    """Each update is made, or fails in one line with git's lock file named: SIGTERM in the
    middle of a transaction can leave its `.lock` behind (a one-shot git killed so leaves one
    too), and git then refuses the ref until it is removed. Nothing else goes wrong: no
    closed pipe, no other update's outcome."""
    git_dir = repo / ".git"
    start = git(repo, "rev-parse", "HEAD")
    done = threading.Event()
    failed: dict[str, str] = {}

    def killer() -> None:
        while not done.is_set():
            # the long-lived ones (a one-shot git killed fails its call, as it always did)
            for pid in session_pids(git_dir, "--stdin") + session_pids(git_dir, "cat-file"):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGTERM)
            done.wait(0.005)

    def work(n: int) -> None:
        for i in range(40):
            ref = f"refs/heads/k{n}-{i}"
            try:
                sessions.update_ref(git_dir, ref, start, None, "m")
            except GitError as e:
                failed[ref] = str(e)

    stopping = threading.Thread(target=killer)
    stopping.start()
    try:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        done.set()
        stopping.join(30)
    made = {r for r in git(repo, "for-each-ref", "--format=%(refname)").split() if "/k" in r}
    assert made | set(failed) == {f"refs/heads/k{n}-{i}" for n in range(4) for i in range(40)}
    assert not made & set(failed)
    assert all(f"{ref}.lock exists" in text for ref, text in failed.items()), failed
    assert len(failed) < 16, failed  # the rare case, not the rule


def test_a_commit_pruned_since_the_process_last_saw_it_is_refused(repo: Path) -> None:
    """update-ref trusts an object it parsed once; the new value is looked up again each time
    (cat-file asks the object store), so a ref is never made to name what gc took away."""
    git_dir = repo / ".git"
    lost = git(repo, "commit-tree", git(repo, "rev-parse", "HEAD^{tree}"), "-m", "lost")
    sessions.update_ref(git_dir, "refs/heads/t1", lost, None, "m")
    git(repo, "update-ref", "-d", "refs/heads/t1")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")
    assert subprocess.run(["git", "cat-file", "-e", lost], cwd=repo).returncode != 0
    with pytest.raises(GitError, match="nonexistent object"):
        sessions.update_ref(git_dir, "refs/heads/t2", lost, None, "m")
    assert git(repo, "for-each-ref", "refs/heads/t2") == ""


def test_reflog_entries_carry_the_time_of_their_update(repo: Path) -> None:
    """An update-ref process stamps every entry with the time of its first: one serves only
    within its second."""
    git_dir = repo / ".git"
    head = git(repo, "rev-parse", "HEAD")
    monkey = os.environ.pop("GIT_COMMITTER_DATE")  # conftest fixes it; here time must move
    try:
        sessions.update_ref(git_dir, "refs/heads/a", head, None, "m", create_reflog=True)
        second = int(time.time())
        wait_for(lambda: int(time.time()) > second, "the next second", bound=5)
        sessions.update_ref(git_dir, "refs/heads/b", head, None, "m", create_reflog=True)
    finally:
        os.environ["GIT_COMMITTER_DATE"] = monkey
    stamps = [
        int(git(repo, "reflog", "show", "--date=unix", "--format=%gd", ref).split("@{")[1][:-1])
        for ref in ("a", "b")
    ]
    assert stamps[1] > stamps[0]


def test_a_run_holding_many_descriptors_still_reads_its_processes(repo: Path) -> None:
    """select() cannot watch a descriptor past 1,023; a long run can hold that many."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"the hard limit on descriptors is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        head = git(repo, "rev-parse", "HEAD")
        sessions.update_ref(repo / ".git", "refs/heads/many", head, None, "m")
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert git(repo, "rev-parse", "many") == head
