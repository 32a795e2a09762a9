"""commit_object writes the commit `git commit-tree` writes: the same id for the same tree,
parent, message, identity and dates; the time it is written when no date is fixed; git's own
commit-tree where it would write more (an encoding header)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from genesis_par.errors import GitError
from genesis_par.gitops import commit_object, refs
from tests.conftest import commit, git
from tests.gitops.index_helpers import make_repo

MESSAGES = [
    "one line",
    "genesis-par: t\n\nGenesis-Run: r\nGenesis-Task: t",
    "ends with a newline\n",
    "ends with two\n\n",
    "",
    "ünïcode ✓ and a tab\there",
]


def commit_tree(repo: Path, tree: str, parent: str, message: str) -> str:
    done = subprocess.run(
        ["git", "commit-tree", tree, "-p", parent, "-m", message],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_the_same_commit_as_commit_tree_when_the_dates_are_fixed(
    tmp_path: Path, object_format: str
) -> None:
    """The test environment fixes GIT_AUTHOR_DATE and GIT_COMMITTER_DATE (conftest)."""
    repo = make_repo(tmp_path, object_format)
    parent = commit(repo, {"a.txt": "a\n"})
    tree = git(repo, "rev-parse", "HEAD^{tree}")
    for message in MESSAGES:
        ours = commit_object.write_commit(repo / ".git", tree, [parent], message, None)
        assert ours == commit_tree(repo, tree, parent, message), repr(message)
    env = {"GIT_AUTHOR_NAME": "Other One", "GIT_COMMITTER_EMAIL": "other@example.org"}
    ours = commit_object.write_commit(repo / ".git", tree, [parent], "m", env)
    theirs = subprocess.run(
        ["git", "commit-tree", tree, "-p", parent, "-m", "m"],
        cwd=repo,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert ours == theirs
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True, text=True)
    assert fsck.returncode == 0 and "error" not in fsck.stderr, fsck.stderr


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/St_Johns"])
def test_the_time_it_is_written_in_the_local_offset_when_no_date_is_fixed(
    repo: Path, monkeypatch: pytest.MonkeyPatch, zone: str
) -> None:
    monkeypatch.delenv("GIT_AUTHOR_DATE")
    monkeypatch.delenv("GIT_COMMITTER_DATE")
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        parent = git(repo, "rev-parse", "HEAD")
        tree = git(repo, "rev-parse", "HEAD^{tree}")
        before = int(time.time())
        ours = commit_object.write_commit(repo / ".git", tree, [parent], "now", None)
        after = int(time.time())
        assert ours is not None
        theirs = commit_tree(repo, tree, parent, "now")
    finally:
        monkeypatch.undo()
        time.tzset()
    mine = git(repo, "cat-file", "commit", ours).splitlines()
    git_s = git(repo, "cat-file", "commit", theirs).splitlines()
    for line, reference in zip(mine[2:4], git_s[2:4], strict=True):  # author, committer
        who, stamp, offset = line.rsplit(" ", 2)
        assert who == reference.rsplit(" ", 2)[0]
        assert who.endswith(" Test <test@example.com>")
        assert before <= int(stamp) <= after
        assert offset == reference.rsplit(" ", 1)[1]  # git's own offset for that zone


def test_an_identity_changed_in_the_config_is_taken(repo: Path) -> None:
    parent = git(repo, "rev-parse", "HEAD")
    tree = git(repo, "rev-parse", "HEAD^{tree}")
    first = commit_object.write_commit(repo / ".git", tree, [parent], "m", None)
    git(repo, "config", "user.name", "Someone Else")
    second = commit_object.write_commit(repo / ".git", tree, [parent], "m", None)
    assert first != second == commit_tree(repo, tree, parent, "m")
    assert "Someone Else" in git(repo, "cat-file", "commit", str(second))


def test_a_commit_encoding_other_than_utf8_is_left_to_git(repo: Path) -> None:
    parent = git(repo, "rev-parse", "HEAD")
    tree = git(repo, "rev-parse", "HEAD^{tree}")
    git(repo, "config", "i18n.commitEncoding", "ISO-8859-1")
    assert commit_object.write_commit(repo / ".git", tree, [parent], "m", None) is None
    assert "encoding ISO-8859-1" in git(
        repo, "cat-file", "commit", commit_tree(repo, tree, parent, "m")
    )
    git(repo, "config", "i18n.commitEncoding", "UTF-8")
    ours = commit_object.write_commit(repo / ".git", tree, [parent], "m", None)
    assert ours == commit_tree(repo, tree, parent, "m")


def test_a_merge_commit_through_refs_commit_tree_is_git_s_own(repo: Path) -> None:
    """The merge queue's commits: two parents, written here once tree and parents are found;
    a tree the repository lacks goes to git, which refuses it in its own words."""
    base = git(repo, "rev-parse", "HEAD")
    side = commit(repo, {"s.txt": "s\n"})
    tree = git(repo, "rev-parse", "HEAD^{tree}")
    common = repo / ".git"
    ours = refs.commit_tree(repo, tree, [base, side], "merge", None, common)
    theirs = subprocess.run(
        ["git", "commit-tree", tree, "-p", base, "-p", side, "-m", "merge"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert ours == theirs
    with pytest.raises(GitError, match="not a valid"):
        refs.commit_tree(repo, "1" * 40, [base], "m", None, common)


def test_an_own_ref_moves_through_the_session_and_a_stale_one_is_false(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    other = commit(repo, {"o.txt": "o\n"})
    common = repo / ".git"
    ref = "refs/heads/genesis/r/integration"
    assert refs.try_update_ref(repo, ref, head, None, common)
    assert not refs.try_update_ref(repo, ref, other, other, common)  # it holds head
    assert refs.try_update_ref(repo, ref, other, head, common)
    assert git(repo, "rev-parse", ref) == other
    reflog = git(repo, "reflog", "show", "--format=%gs", ref).splitlines()
    assert reflog[0] == "genesis-par: merge queue"
    assert not refs.try_update_ref(repo, "refs/heads/main", head, head, common)  # one-shot
