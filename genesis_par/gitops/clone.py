"""Task clones (`[run] isolation = "clone"`): a repository of the task's own that borrows the
user's objects (alternates, nothing copied), so its refs, config and hooks are its own and
nothing an agent does with git there reaches the user's repository.

Cost: `git init` + one `reset --hard` to make one (a worktree is one `worktree add`), and one
`fetch` from the clone to bring the task's commits home (`python -m bench.isolation_clone`).
"""

from __future__ import annotations

from pathlib import Path

from genesis_par.errors import GitError
from genesis_par.gitops.run import _run_git

INCOMING = "refs/genesis/incoming/"  # where a clone's branch lands before its compare-and-swap


def add_clone(common_dir: Path, path: Path, branch: str, start: str) -> None:
    """A new repository at path with branch at start checked out, borrowing common_dir's objects.

    No refs, config or hooks of the user's repository are copied: the agent sees none of them."""
    path.mkdir(parents=True, exist_ok=True)
    # --template= : no sample hooks, no info/exclude from the templates (nothing to run)
    _run_git(["init", "--quiet", "--template=", f"--initial-branch={branch}", str(path)], path)
    alternates = path / ".git" / "objects" / "info" / "alternates"
    alternates.parent.mkdir(parents=True, exist_ok=True)
    alternates.write_text(f"{(common_dir / 'objects').resolve()}\n")
    # on the unborn branch, `reset --hard` sets the branch to start and checks its files out
    _run_git(clone_args(path, "reset", "--quiet", "--hard", start), path)


def clone_args(path: Path, *args: str) -> list[str]:
    """git arguments that name the clone's git dir and work tree (never discovered)."""
    return [f"--git-dir={clone_git_dir(path)}", f"--work-tree={path}", *args]


def clone_git_dir(path: Path) -> Path:
    """The clone's git dir, refused when it is no longer the plain folder genesis-par made."""
    git_dir = path / ".git"
    if git_dir.is_symlink() or not git_dir.is_dir():
        raise GitError(
            f"{path}: its .git folder was removed or replaced (by its agent?); "
            "the task's work there cannot be trusted"
        )
    return git_dir


def is_clone(path: Path) -> bool:
    """Whether path is a task clone (a repository of its own with borrowed objects)."""
    return (path / ".git" / "objects" / "info" / "alternates").is_file()


def fetch_home(repo: Path, path: Path, branch: str) -> str:
    """Copy the clone's branch and the objects it needs into repo under an incoming ref;
    the commit, for the caller's compare-and-swap of the task branch."""
    incoming = f"{INCOMING}{branch}"
    source = str(clone_git_dir(path))
    # --no-write-fetch-head: the user's FETCH_HEAD is not ours to change
    args = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", source]
    _run_git([*args, f"+refs/heads/{branch}:{incoming}"], repo)
    commit = _run_git(["rev-parse", "--verify", f"{incoming}^{{commit}}"], repo).stdout.strip()
    _run_git(["update-ref", "-d", incoming, commit], repo)
    return commit
