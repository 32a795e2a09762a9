"""A worktree's git dir, named explicitly after checking it is the one git made for it.

git finds a worktree's repository by reading its `.git` file, and with no `.git` at all walks
up to the parent folders: a task worktree sits inside the user's repository, so an agent that
deleted or rewrote its `.git` would send plain `git -C <worktree>` calls to the user's own
checkout (issue 13). Every call of ours on a worktree names `--git-dir` and `--work-tree`
instead, after checking the two links git keeps: the worktree's `.git` file points at
`<common>/worktrees/<id>`, and that folder's `gitdir` file points back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from genesis_par.errors import GitError


class WorktreeBroken(GitError):
    """A worktree whose link to its repository is gone or not git's own: never followed."""

    def __init__(self, worktree: Path, detail: str, message: str | None = None) -> None:
        super().__init__(
            message
            or f"{worktree / '.git'} was removed or replaced ({detail}): genesis-par leaves "
            "that worktree alone; its files are as they were left"
        )
        self.worktree, self.detail = worktree, detail


class Located(NamedTuple):
    git_dir: Path
    work_tree: Path
    common_dir: Path

    @property
    def args(self) -> list[str]:
        """git's global options naming this worktree: no discovery from any folder."""
        return [f"--git-dir={self.git_dir}", f"--work-tree={self.work_tree}"]


def locate(worktree: Path, *, main_ok: bool = False, common_dir: Path | None = None) -> Located:
    """The git dir of a linked worktree, checked both ways; WorktreeBroken if it is not.

    main_ok: a main worktree (a `.git` folder, or a `.git` file naming a repository's git dir)
    is accepted too, for the user's own checkouts. A task clone (`isolation = "clone"`) is
    accepted as its own repository.
    common_dir: the repository it must belong to (a clone's own git dir, for a clone)."""
    dot_git = worktree / ".git"
    if worktree.exists() and not worktree.is_dir():
        detail = f"git cannot run in {worktree}: Not a directory"
        raise WorktreeBroken(worktree, detail, f"{detail} (a file took the worktree's place)")
    if not worktree.is_dir():
        raise WorktreeBroken(
            worktree,
            f"{worktree} does not exist",
            f"{worktree} does not exist, though git records a worktree there: if it was "
            "removed on purpose, `git worktree prune` makes git forget it",
        )
    if main_ok and dot_git.is_dir():
        return _expected(worktree, Located(dot_git, worktree, dot_git), common_dir)
    if is_clone(worktree):  # a task clone: its own repository, checked (see clone_git_dir)
        own = clone_git_dir(worktree)
        return _expected(worktree, Located(own, worktree, own), common_dir)
    if dot_git.is_symlink():
        raise WorktreeBroken(worktree, "it is a symbolic link")
    if not dot_git.is_file():
        raise WorktreeBroken(worktree, "it is a folder" if dot_git.is_dir() else "it is missing")
    git_dir = _link(dot_git, "gitdir: ")
    if git_dir is None or not git_dir.is_dir():
        raise WorktreeBroken(worktree, "it no longer names a git dir")
    if main_ok and not (git_dir / "commondir").exists():  # --separate-git-dir, a submodule
        return _expected(worktree, Located(git_dir, worktree, git_dir), common_dir)
    back = _link_text(git_dir / "gitdir", "")
    common = _common(git_dir)
    if back is None or common is None or git_dir.parent != common / "worktrees":
        raise WorktreeBroken(worktree, f"it names {git_dir}, which is no worktree's git dir")
    if not _same(back, str(dot_git)):
        raise WorktreeBroken(worktree, f"it names {git_dir}, which belongs to another worktree")
    return _expected(worktree, Located(git_dir, worktree, common), common_dir)


def _expected(worktree: Path, found: Located, common_dir: Path | None) -> Located:
    if common_dir is not None and not _same(str(found.common_dir), str(common_dir)):
        raise WorktreeBroken(worktree, f"it names the repository {found.common_dir}")
    return found


def _same(a: str, b: str) -> bool:
    """Whether two paths name the same place now. The same text does (the usual case: git
    writes real paths, and so do we), without resolving every folder on the way, which is
    most of the cost of a locate (issue 19)."""
    return a == b or os.path.realpath(a) == os.path.realpath(b)


def _common(git_dir: Path) -> Path | None:
    """The repository a linked worktree's (resolved) git dir belongs to, from its commondir
    file. git writes `../..`: above a resolved folder that needs no resolving."""
    text = _link_text(git_dir / "commondir", "", relative=True)
    if text in ("../..", "../../"):
        return git_dir.parent.parent
    return None if text is None else Path(os.path.realpath(git_dir / text))


def _link(path: Path, prefix: str) -> Path | None:
    """The path one of git's link files holds (relative to the file's folder), resolved."""
    text = _link_text(path, prefix)
    return None if text is None else Path(os.path.realpath(text))


def _link_text(path: Path, prefix: str, *, relative: bool = False) -> str | None:
    """What one of git's link files holds past prefix: made absolute (relative to the
    file's folder) unless relative, not resolved."""
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith(prefix) or len(text) == len(prefix):
        return None
    named = text[len(prefix) :]
    return named if relative else os.path.join(path.parent, named)


# Files that would make a clone's git dir another repository's (commondir: a linked worktree
# of it), or change which history it sees (shallow, grafts): refused.
_FOREIGN = ("commondir", "gitdir", "shallow", "info/grafts")
_NO_LINKS = ("config", "HEAD", "index", "packed-refs", "objects", "refs", "logs", "info")


class CloneBroken(WorktreeBroken):
    """A task clone whose git dir is no longer what genesis-par made: never worked in."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            path,
            detail,
            f"{path / '.git'} is no longer the repository genesis-par made ({detail}): "
            "genesis-par leaves that clone alone; its files are as they were left",
        )


def clone_git_dir(path: Path) -> Path:
    """A task clone's git dir, refused when it is no longer the plain folder genesis-par made:
    a symbolic link where git writes (its refs would be another repository's: anywhere under
    refs/ and logs/ too), or a file that makes it another repository's worktree."""
    git_dir = path / ".git"
    if git_dir.is_symlink() or not git_dir.is_dir():
        raise CloneBroken(path, "its .git folder was removed or replaced")
    for name in _FOREIGN:
        if os.path.lexists(git_dir / name):
            raise CloneBroken(path, f"it holds .git/{name}")
    linked = [git_dir / name for name in _NO_LINKS if (git_dir / name).is_symlink()]
    for folder in ("refs", "logs") if not linked else ():
        for top, dirs, files in os.walk(git_dir / folder):  # a clone's few refs: a short walk
            linked += [Path(top, n) for n in (*dirs, *files) if Path(top, n).is_symlink()]
            if linked:
                break
    if linked:
        raise CloneBroken(path, f".git/{linked[0].relative_to(git_dir)} is a symbolic link")
    return git_dir


def is_clone(path: Path) -> bool:
    """Whether path looks like a task clone (a repository of its own with borrowed objects)."""
    git_dir = path / ".git"
    return git_dir.is_dir() and not git_dir.is_symlink() and alternates_file(git_dir).is_file()


def alternates_file(git_dir: Path) -> Path:
    """Where a repository names the object stores it borrows from."""
    return git_dir / "objects" / "info" / "alternates"
