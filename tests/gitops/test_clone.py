"""Task clones: own refs, config and hooks; the user's objects borrowed; work fetched home."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from genesis_par import gitops
from genesis_par.errors import GitError
from genesis_par.gitops import clone
from tests.conftest import commit, git


def test_clone_starts_at_start_and_shares_no_refs(repo: Path) -> None:
    start = commit(repo, {"a.txt": "one\n"})
    git(repo, "tag", "v1")
    path = repo.parent / "clone"
    clone.add_clone(repo / ".git", path, "genesis/r/t", start, repo)
    assert git(path, "rev-parse", "HEAD") == start
    assert git(path, "symbolic-ref", "HEAD") == "refs/heads/genesis/r/t"
    assert (path / "a.txt").read_text() == "one\n"
    assert git(path, "for-each-ref", "--format=%(refname)") == "refs/heads/genesis/r/t"
    assert not (path / ".git" / "hooks").exists()
    assert git(path, "status", "--porcelain") == ""


def test_work_comes_home_and_agent_git_stays_in_the_clone(repo: Path) -> None:
    start = commit(repo, {"a.txt": "one\n"})
    before = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    config_before = (repo / ".git" / "config").read_text()
    path = repo.parent / "clone"
    clone.add_clone(repo / ".git", path, "genesis/r/t", start, repo)
    # what an agent may do with git in its clone: commit, move branches, set config, add hooks
    (path / "b.txt").write_text("two\n")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "agent")
    git(path, "branch", "-f", "main", "HEAD")
    git(path, "config", "core.hooksPath", "/nowhere")
    tip = git(path, "rev-parse", "HEAD")
    assert subprocess.run(["git", "cat-file", "-e", tip], cwd=repo).returncode != 0

    ref = "refs/heads/genesis/r/t"
    clone.fetch_home(repo, path, ref, ref, None, tip, start=start)
    assert git(repo, "cat-file", "-t", tip) == "commit"
    assert git(repo, "rev-parse", ref) == tip
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/genesis/") == ""  # no incoming
    git(repo, "update-ref", "-d", ref)
    assert git(repo, "for-each-ref", "--format=%(refname) %(objectname)") == before
    assert (repo / ".git" / "config").read_text() == config_before
    git(repo, "fsck", "--no-progress", "--no-dangling")  # raises on any error


def test_a_replaced_git_dir_is_refused(repo: Path) -> None:
    start = gitops.head(repo)
    path = repo.parent / "clone"
    clone.add_clone(repo / ".git", path, "genesis/r/t", start, repo)
    subprocess.run(["rm", "-rf", str(path / ".git")], check=True)
    (path / ".git").symlink_to(repo / ".git")
    ref = "refs/heads/genesis/r/t"
    with pytest.raises(GitError, match="removed or replaced"):
        clone.fetch_home(repo, path, ref, ref, None, start)


def test_a_stale_compare_and_swap_moves_nothing(repo: Path) -> None:
    start = gitops.head(repo)
    path = repo.parent / "clone"
    clone.add_clone(repo / ".git", path, "genesis/r/t", start, repo)
    tip = commit(path, {"b.txt": "two\n"}, "agent")
    ref = "refs/heads/genesis/r/t"
    git(repo, "update-ref", ref, start)
    with pytest.raises(GitError):  # the task branch is expected not to exist: it does
        clone.fetch_home(repo, path, ref, ref, None, tip)
    assert git(repo, "rev-parse", ref) == start
    with pytest.raises(GitError):  # the clone's branch no longer names the commit told
        clone.fetch_home(repo, path, ref, ref, start, start)
    assert git(repo, "rev-parse", ref) == start
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/genesis/") == ""


def test_made_in_tells_the_clones_own_commits_loose_or_packed(repo: Path) -> None:
    start = gitops.head(repo)
    path = repo.parent / "clone"
    clone.add_clone(repo / ".git", path, "genesis/r/t", start, repo)
    loose = commit(path, {"b.txt": "two\n"}, "agent")
    assert clone.made_in(path, [loose, start]) == {loose}  # start is borrowed, not its own
    git(path, "gc", "-q")
    assert not (path / ".git" / "objects" / loose[:2] / loose[2:]).exists()
    packed = commit(path, {"c.txt": "three\n"}, "agent again")
    assert clone.made_in(path, [loose, packed, start]) == {loose, packed}
