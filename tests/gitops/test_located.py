"""locate: a linked worktree's git dir, checked both ways, whatever an agent did to the links
(issue 13). It is called several times per task, so it takes few system calls (issue 19):
these tests hold its refusals in place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from genesis_par.gitops.located import Located, WorktreeBroken, locate
from tests.conftest import git


def add(repo: Path, name: str) -> Path:
    path = repo / ".genesis" / "worktrees" / name
    git(repo, "worktree", "add", "-q", "--detach", str(path), "main")
    return path


def test_a_linked_worktree_is_located_in_its_own_repository(repo: Path) -> None:
    worktree = add(repo, "a")
    found = locate(worktree, common_dir=repo / ".git")
    real = Path(os.path.realpath(repo / ".git"))
    assert found == Located(real / "worktrees" / "a", worktree, real)


def test_paths_through_symbolic_links_name_the_same_worktree(repo: Path, tmp_path: Path) -> None:
    worktree = add(repo, "a")
    alias = tmp_path / "alias"
    alias.symlink_to(repo)
    found = locate(alias / ".genesis" / "worktrees" / "a", common_dir=alias / ".git")
    assert found.git_dir.samefile(repo / ".git" / "worktrees" / "a")
    back = repo / ".git" / "worktrees" / "a" / "gitdir"  # the back link, written another way
    back.write_text(f"{alias / '.genesis' / 'worktrees' / 'a' / '.git'}\n")
    assert locate(worktree, common_dir=repo / ".git").work_tree == worktree


def break_link(how: str, repo: Path, w: Path, o: Path) -> None:
    """What an agent (or anyone) may do to worktree w's link, o being another worktree."""
    own = repo / ".git" / "worktrees" / "a"
    if how in ("missing", "a folder", "a symbolic link"):
        (w / ".git").unlink()
    if how == "a folder":
        (w / ".git").mkdir()
    elif how == "a symbolic link":
        (w / ".git").symlink_to(o / ".git")
    elif how == "the main repository":
        (w / ".git").write_text(f"gitdir: {repo / '.git'}\n")
    elif how == "another worktree's":
        (w / ".git").write_text((o / ".git").read_text())
    elif how == "relative, to another worktree's":
        (w / ".git").write_text("gitdir: ../../../.git/worktrees/b\n")
    elif how == "a git dir moved out through a symbolic link":
        own.rename(repo / "moved")
        own.symlink_to(repo / "moved")
    elif how == "a back link to elsewhere":
        (own / "gitdir").write_text(f"{o / '.git'}\n")
    elif how == "a back link climbing through a symbolic link":
        (w / "up").symlink_to(o)
        (own / "gitdir").write_text(f"{w / 'up' / '.git'}\n")
    elif how == "a common dir elsewhere":
        (own / "commondir").write_text(str(o))


BREAKS = (
    "missing",
    "a folder",
    "a symbolic link",
    "the main repository",
    "another worktree's",
    "relative, to another worktree's",
    "a git dir moved out through a symbolic link",
    "a back link to elsewhere",
    "a back link climbing through a symbolic link",
    "a common dir elsewhere",
)


@pytest.mark.parametrize("how", BREAKS)
def test_a_broken_or_foreign_link_is_refused(repo: Path, how: str) -> None:
    worktree, other = add(repo, "a"), add(repo, "b")
    break_link(how, repo, worktree, other)
    with pytest.raises(WorktreeBroken):
        locate(worktree, common_dir=repo / ".git")


def test_a_worktree_of_another_repository_is_refused(repo: Path, tmp_path: Path) -> None:
    other_repo = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(repo), str(other_repo))
    worktree = add(other_repo, "a")
    assert locate(worktree).common_dir.samefile(other_repo / ".git")
    with pytest.raises(WorktreeBroken, match="it names the repository"):
        locate(worktree, common_dir=repo / ".git")
