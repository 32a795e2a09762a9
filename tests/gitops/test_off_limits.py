"""The git dirs an agent's git refuses: the main worktree's and every linked one but its own,
named by patterns that hold however many worktrees there are, and for worktrees made after the
agent's environment was (issue 19: one pattern per worktree grew every agent's environment
with the run, and missed the worktrees of tasks that started later)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from genesis_par.gitops import guard_env
from tests.conftest import git

# names around "t17": its prefixes, longer names, one character off, wildmatch's own specials
OTHERS = ["t", "t1", "t170", "t17-2", "t18", "u17", "T17", "t1[", "t*7", "t?7", "t\\7", ".merge-2"]


def add(repo: Path, name: str) -> Path:
    path = repo.parent / "wt" / name
    git(repo, "worktree", "add", "-q", "--detach", str(path), "main")
    return path


def runs_git(worktree: Path, env: dict[str, str]) -> bool:
    done = subprocess.run(
        ["git", "-C", str(worktree), "rev-parse", "--git-dir"], env=env, capture_output=True
    )
    assert done.returncode == 0 or b"off-limits.config" in done.stderr, done.stderr
    return done.returncode == 0


@pytest.mark.parametrize("own", ["t17", "a", "t\u00e9"])
def test_every_worktree_but_the_agents_own_is_refused_made_before_or_after(
    repo: Path, tmp_path: Path, own: str
) -> None:
    mine = add(repo, own)
    before = [add(repo, n) for n in OTHERS[:6]]
    own_gitdir = guard_env.own_gitdir(mine)
    assert own_gitdir is not None
    patterns = guard_env.off_limits_patterns(repo / ".git", own_gitdir)
    off_limits = tmp_path / "off-limits.config"
    off_limits.write_text(guard_env.OFF_LIMITS)
    env = guard_env.agent_env(dict(os.environ), mine, repo / ".git", None, off_limits, patterns)
    after = [add(repo, n) for n in OTHERS[6:]]
    assert runs_git(mine, env)
    assert not runs_git(repo, env)
    refused = {w.name: not runs_git(w, env) for w in before + after}
    if own.isascii():
        assert refused == dict.fromkeys(OTHERS, True)
        assert len(patterns) == 1 + 2 * len(own)  # the main one, two per character of the name
    else:  # named one by one: those made later are not known
        assert refused == {n: n in OTHERS[:6] for n in OTHERS}


def test_a_clones_agent_is_refused_every_linked_worktree(repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    patterns = guard_env.off_limits_patterns(repo / ".git", clone / ".git")
    off_limits = tmp_path / "off-limits.config"
    off_limits.write_text(guard_env.OFF_LIMITS)
    env = guard_env.agent_env(dict(os.environ), clone, repo / ".git", None, off_limits, patterns)
    later = add(repo, "later")
    assert runs_git(clone, env)
    assert not runs_git(later, env) and not runs_git(repo, env)


def test_the_off_limits_file_is_never_rewritten_in_place(tmp_path: Path) -> None:
    """Every fence writes it; a rewrite in place (truncated, then written) let an agent's git
    read it empty and run where it must not. Right already: left alone; else replaced whole."""
    path = tmp_path / "off-limits.config"
    guard_env.write_off_limits(path)
    assert path.read_text() == guard_env.OFF_LIMITS
    before = path.stat()
    guard_env.write_off_limits(path)
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    path.write_text("[core]\n")  # damaged: replaced by a new file, never truncated
    damaged = path.stat().st_ino
    with path.open() as reader:  # what a git process reading it at that moment holds
        guard_env.write_off_limits(path)
        assert reader.read() == "[core]\n"
    assert path.read_text() == guard_env.OFF_LIMITS and path.stat().st_ino != damaged
    assert [p.name for p in tmp_path.iterdir()] == ["off-limits.config"]
