"""Merges done in a worktree, as `git merge` leaves them: for resolving conflicts, by a person,
a resolver agent, or `-X ours/theirs` (git 2.39's `merge-tree` takes no `-X`, so those merges
run in a throwaway worktree)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from genesis_par.errors import GitError
from genesis_par.gitops.located import locate
from genesis_par.gitops.run import _out, _run_git


def merge_in_worktree(
    worktree: Path,
    commit: str,
    message: str,
    env: Mapping[str, str],
    *,
    option: str | None = None,
    commit_if_clean: bool = True,
) -> list[str]:
    """`git merge --no-ff commit` into the worktree's HEAD; the paths left unmerged.

    A clean merge is committed (unless commit_if_clean is False); a conflicted one is left as
    git leaves it (markers in the files, stages in the index, MERGE_HEAD set). option: a
    strategy option, `ours` or `theirs` (`-X`)."""
    args = [*locate(worktree).args, "merge", "--no-ff", "--no-edit", "-m", message]
    args += ["-X", option] if option else []
    args += [] if commit_if_clean else ["--no-commit"]
    done = _run_git([*args, commit], worktree, env=env, check=False)
    unmerged = unmerged_paths(worktree)
    if done.returncode != 0 and not unmerged and not merging(worktree):
        # refused before it started (local changes in the way, unrelated histories)
        raise GitError(f"git merge in {worktree} failed: {done.stderr.strip() or done.stdout}")
    return unmerged


def unmerged_paths(worktree: Path) -> list[str]:
    """Paths the index still holds in conflict stages (`ls-files -u`), each once."""
    listed = _out([*locate(worktree).args, "ls-files", "-u", "-z"], worktree)
    return list(dict.fromkeys(e.split("\t", 1)[1] for e in listed.split("\0") if "\t" in e))


def merging(worktree: Path) -> bool:
    """Whether a merge is in progress in worktree (MERGE_HEAD exists)."""
    return (locate(worktree).git_dir / "MERGE_HEAD").exists()


def abort_merge(worktree: Path) -> None:
    """Undo a merge in progress (its files and index back to HEAD)."""
    _run_git([*locate(worktree).args, "merge", "--abort"], worktree, check=False)


def staged_tree(worktree: Path) -> str:
    """Stage every file of the worktree and write the index as a tree."""
    where = locate(worktree).args
    _run_git([*where, "add", "--all"], worktree)
    return _out([*where, "write-tree"], worktree)


def is_ancestor(repo: Path, ancestor: str, commit: str) -> bool:
    """Whether ancestor is in commit's history."""
    args = ["merge-base", "--is-ancestor", ancestor, commit]
    return _run_git(args, repo, check=False).returncode == 0


def diff_of_paths(repo: Path, old: str, new: str, paths: list[str], limit: int = 20_000) -> str:
    """The unified diff old..new of paths (what one side did to them), cut at limit chars."""
    if not paths:
        return ""
    text = _out(["diff", "--no-color", "--no-ext-diff", old, new, "--", *paths], repo)
    return text if len(text) <= limit else text[:limit] + "\n[... diff cut]\n"


def branch_checked_out(worktree: Path) -> str | None:
    """The full ref of the branch checked out in worktree; None when HEAD is detached."""
    args = [*locate(worktree).args, "symbolic-ref", "--quiet", "HEAD"]
    return _run_git(args, worktree, check=False).stdout.strip() or None


def switch_to(worktree: Path, branch: str) -> None:
    """Check out an existing branch in a clean worktree."""
    _run_git([*locate(worktree).args, "checkout", "--quiet", branch], worktree)


def changed_paths(repo: Path, old: str, new: str) -> list[str]:
    """The paths whose content or mode differ between two trees (or commits), no renames."""
    listed = _out(["diff", "--name-only", "--no-renames", "-z", old, new], repo)
    return [p for p in listed.split("\0") if p]


def unmerged_stages(worktree: Path) -> dict[str, set[str]]:
    """Each path still unmerged, with the stages the index holds for it (1 base, 2 ours,
    3 theirs): a path without stage 2 or 3 is one a side deleted (modify/delete)."""
    listed = _out([*locate(worktree).args, "ls-files", "-u", "-z"], worktree)
    stages: dict[str, set[str]] = {}
    for entry in filter(None, listed.split("\0")):
        info, path = entry.split("\t", 1)
        stages.setdefault(path, set()).add(info.split()[2])
    return stages


def stage(worktree: Path, paths: list[str]) -> None:
    """`git add` these paths (marking them resolved)."""
    if paths:
        _run_git([*locate(worktree).args, "add", "--", *paths], worktree)
