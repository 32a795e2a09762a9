"""Worktrees: adding, committing in, switching, saving and removing them."""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from genesis_par.errors import GitError, UsageError
from genesis_par.gitops.located import locate
from genesis_par.gitops.refs import head
from genesis_par.gitops.residue import gitlinks, in_submodule_folders
from genesis_par.gitops.run import FALLBACK_IDENTITY, _out, _run_git, identity_env


@contextlib.contextmanager
def worktree_lock(common_dir: Path) -> Iterator[None]:
    """Serialize `git worktree add/remove/prune`: run at once, they race on git's files."""
    lock_path = common_dir / "genesis-par" / "worktrees.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def add_worktree(repo: Path, common_dir: Path, path: Path, branch: str, start: str) -> None:
    """Create branch at start (it must not exist) checked out in a new worktree at path."""
    with worktree_lock(common_dir):
        _run_git(["worktree", "add", "--quiet", "-b", branch, str(path), start], repo)


def add_worktree_on(repo: Path, common_dir: Path, path: Path, branch: str) -> None:
    """A new worktree at path with an existing branch checked out (git prunes stale records)."""
    with worktree_lock(common_dir):
        _run_git(["worktree", "prune"], repo)
        _run_git(["worktree", "add", "--quiet", str(path), branch], repo)


def reset_worktree(worktree: Path, commit: str, *, branch: str | None = None) -> None:
    """Put worktree back to commit for another attempt: tracked files reset, untracked files
    removed; ignored files (dependencies, build output, .env) kept as the set-up left them.

    branch: HEAD is put back on it first, so the reset moves the task's branch, never one an
    agent checked out (a user's branch)."""
    where = locate(worktree).args
    if branch is not None:
        _run_git([*where, "symbolic-ref", "HEAD", f"refs/heads/{branch}"], worktree)
    _run_git([*where, "reset", "--quiet", "--hard", commit], worktree)
    _run_git([*where, "clean", "-ffdq"], worktree)


class MergedStart(NamedTuple):
    commit: str | None  # None when the dependencies' results conflict
    conflicted: tuple[str, ...]


def merge_commits(
    repo: Path, commits: Sequence[str], message: str, env: Mapping[str, str] | None = None
) -> MergedStart:
    """One commit that merges commits together, built without touching any worktree or index."""
    current = commits[0]
    for other in commits[1:]:
        done = _run_git(
            # a dependency with an unrelated history (an agent's doing) must not end the run
            [
                "merge-tree",
                "--write-tree",
                "--name-only",
                "--no-messages",
                "--allow-unrelated-histories",
                "-z",
                current,
                other,
            ],
            repo,
            check=False,
        )
        if done.returncode not in (0, 1):
            raise GitError(f"git merge-tree failed in {repo}: {done.stderr.strip()}")
        tree, *paths = [p for p in done.stdout.split("\0") if p]
        if done.returncode == 1:
            return MergedStart(None, tuple(sorted(set(paths))))
        args = ["commit-tree", tree, "-p", current, "-p", other, "-m", message]
        current = _run_git(args, repo, env=env).stdout.strip()
    return MergedStart(current, ())


def checkout_detached(worktree: Path, commit: str) -> None:
    """Point a worktree (detached) at commit, its files matching exactly."""
    where = locate(worktree).args
    _run_git([*where, "checkout", "--quiet", "--force", "--detach", commit], worktree)
    _run_git([*where, "clean", "-ffdxq"], worktree)


def add_detached_worktree(repo: Path, common_dir: Path, path: Path, commit: str) -> None:
    """A worktree at path with commit checked out, on no branch."""
    with worktree_lock(common_dir):
        _run_git(["worktree", "add", "--quiet", "--detach", str(path), commit], repo)


def checked_out_in(repo: Path, branch_ref: str) -> Path | None:
    """The worktree that has branch_ref checked out, if any."""
    text = _out(["worktree", "list", "--porcelain"], repo)
    path: Path | None = None
    for line in text.splitlines():
        if line.startswith("worktree "):
            path = Path(line[len("worktree ") :])
        elif line == f"branch {branch_ref}":
            return path
    return None


# `git status` refreshes the index when it can (an optional lock): not when only asked, so it
# works on a full disk (where gc must run) and never rewrites a user's index behind their back
READ_ONLY_STATUS = {"GIT_OPTIONAL_LOCKS": "0"}


def is_clean(worktree: Path) -> bool:
    """No staged, unstaged or untracked (not ignored) changes in the user's checkout."""
    return _status_clean(locate(worktree, main_ok=True).args, worktree)


def _status_clean(where: Sequence[str], worktree: Path) -> bool:
    args = [*where, "status", "--porcelain", "--untracked-files=normal"]
    return _out(args, worktree, env=READ_ONLY_STATUS) == ""


def local_changes(worktree: Path) -> list[str]:
    """Paths with staged, unstaged or untracked (not ignored) changes, as `git status` lists."""
    args = ["status", "--porcelain", "-z", "--untracked-files=normal"]
    text = _run_git(args, worktree, env=READ_ONLY_STATUS).stdout  # not stripped: see [3:]
    entries = text.split("\0")
    paths, skip = [], False
    for entry in entries:
        if skip or len(entry) < 4:  # a rename's second entry is its old name
            skip = False
            continue
        paths.append(entry[3:])
        skip = entry[0] in "RC"
    return paths


def try_fast_forward(worktree: Path, old: str, new: str) -> bool:
    """Move the branch checked out in worktree from old to new with its files; False if it moved."""
    if head(worktree) != old:
        return False
    args = [*locate(worktree, main_ok=True).args, "merge", "--quiet", "--ff-only", new]
    return _run_git(args, worktree, check=False).returncode == 0


def try_reset_checked_out(worktree: Path, old: str, new: str) -> bool:
    """Move the branch checked out in worktree from old to new, any direction, with its files
    (`reset --keep`); False if the branch was not at old or local changes are in the way."""
    if head(worktree) != old:
        return False
    args = [*locate(worktree, main_ok=True).args, "reset", "--quiet", "--keep", new]
    return _run_git(args, worktree, check=False).returncode == 0


def cherry_pick(worktree: Path, commits: Sequence[str], env: Mapping[str, str] | None) -> bool:
    """Replay commits onto the worktree's HEAD; on a conflict abort and return False."""
    if not commits:
        return True
    where = locate(worktree).args
    args = [*where, "cherry-pick", "--allow-empty", "--keep-redundant-commits", *commits]
    if _run_git(args, worktree, env=env, check=False).returncode == 0:
        return True
    _run_git([*where, "cherry-pick", "--abort"], worktree, check=False)
    return False


def worktree_snapshot(worktree: Path, env: Mapping[str, str]) -> tuple[str, str]:
    """(a commit of the worktree's current files (untracked too), HEAD: its parent), built in
    a temporary index so the worktree's own index is never touched."""
    where = locate(worktree)
    with tempfile.TemporaryDirectory(prefix="genesis-index-") as tmp:
        index = Path(tmp) / "index"
        if (where.git_dir / "index").exists():
            shutil.copyfile(where.git_dir / "index", index)
        snap_env = {**env, "GIT_INDEX_FILE": str(index), **FALLBACK_IDENTITY}
        _run_git([*where.args, "add", "--all"], worktree, env=snap_env)
        tree = _out([*where.args, "write-tree"], worktree, env=snap_env)
        parent = head(worktree)
        args = ["commit-tree", tree, "-p", parent, "-m", "genesis-par: work in progress"]
        return _out([*where.args, *args], worktree, env=snap_env), parent


def has_uncommitted(worktree: Path) -> bool:
    """Tracked changes or untracked (not ignored) files, or files git status does not show
    (skip-worktree, assume-unchanged) whose content differs from what is committed, or files
    in the folder of a submodule that is not checked out."""
    where = locate(worktree).args
    if not _status_clean(where, worktree):
        return True
    # one listing (tag, mode, path) for both: `ls-files -v` tags, `--stage` modes
    listing = [*where, "ls-files", "-v", "--stage", "-z"]
    listed = [e for e in _out(listing, worktree).split("\0") if e]
    entries = [(e[:1], e[2:].split(" ", 1)[0], e.split("\t", 1)[1]) for e in listed]
    if in_submodule_folders(worktree, [p for _, mode, p in entries if mode == "160000"]):
        return True
    hidden = [p for tag, _, p in entries if tag == "S" or tag.islower()]
    hidden = [f for f in hidden if (worktree / f).is_file()]  # not sparse ones
    if not hidden:
        return False
    done = _run_git([*where, "hash-object", "--", *hidden], worktree, check=False)
    shown = [*where, "rev-parse", *(f"HEAD:{f}" for f in hidden)]
    committed = _run_git(shown, worktree, check=False)
    return done.returncode != 0 or done.stdout.split() != committed.stdout.split()


def _hidden_files(worktree: Path) -> list[str]:
    """Files marked skip-worktree (S) or assume-unchanged (lower-case tag) in the index."""
    listed = _out([*locate(worktree).args, "ls-files", "-v", "-z"], worktree)
    return [e[2:] for e in listed.split("\0") if e[:1] == "S" or e[:1].islower()]


def is_sparse(worktree: Path) -> bool:
    """Whether worktree uses a sparse checkout (some tracked files absent on purpose)."""
    args = [*locate(worktree).args, "config", "--bool", "core.sparseCheckout"]
    done = _run_git(args, worktree, check=False)
    return done.stdout.strip() == "true"


def revert(worktree: Path, commits: Sequence[str], env: Mapping[str, str]) -> bool:
    """Revert commits (merges against their first parent) in order; False on a conflict."""
    where = locate(worktree).args
    for commit in commits:
        parents = _out([*where, "rev-list", "--parents", "-n", "1", commit], worktree).split()[1:]
        args = ["revert", "--no-edit", *(["-m", "1"] if len(parents) > 1 else []), commit]
        if _run_git([*where, *args], worktree, env=env, check=False).returncode != 0:
            _run_git([*where, "revert", "--abort"], worktree, check=False)
            return False
    return True


class WorktreeEntry(NamedTuple):
    path: Path
    head: str | None
    branch: str | None  # refs/heads/...
    prunable: bool


def worktrees(repo: Path) -> list[WorktreeEntry]:
    """git's worktree records (`git worktree list --porcelain`)."""
    entries: list[WorktreeEntry] = []
    fields: dict[str, str] = {}
    for line in [*_out(["worktree", "list", "--porcelain"], repo).splitlines(), ""]:
        if line:
            key, _, value = line.partition(" ")
            fields[key] = value
        elif fields:
            entries.append(
                WorktreeEntry(
                    Path(fields["worktree"]),
                    fields.get("HEAD"),
                    fields.get("branch"),
                    "prunable" in fields,
                )
            )
            fields = {}
    return entries


def save_to_ref(
    worktree: Path, ref: str, leave_out: Sequence[str] = (), also_keep: Sequence[str] = ()
) -> str:
    """Keep everything in worktree (committed or not; files hidden by skip-worktree too) but
    leave_out under ref, without touching the worktree or its index; the saved commit.
    also_keep: commits made extra parents, so they stay reachable from ref."""
    where = locate(worktree)
    with tempfile.TemporaryDirectory(prefix="genesis-index-") as tmp:
        index = Path(tmp) / "index"
        if (where.git_dir / "index").exists():
            shutil.copyfile(where.git_dir / "index", index)
        env = {"GIT_INDEX_FILE": str(index), **identity_env(worktree)}
        hidden = _hidden_files(worktree)
        if hidden:  # else `add` would pass over their changes
            flags = ["--no-skip-worktree", "--no-assume-unchanged"]
            _run_git([*where.args, "update-index", *flags, "--", *hidden], worktree, env=env)
        every_link = gitlinks(worktree)
        unseen = in_submodule_folders(worktree, every_link)
        links = [g for g in every_link if any(f.startswith(g + "/") for f in unseen)]
        if links:  # files in a submodule folder that is not checked out: saved as plain files
            removal = [*where.args, "update-index", "--force-remove", "--", *links]
            _run_git(removal, worktree, env=env)
        _run_git([*where.args, "add", "--all"], worktree, env=env)
        if leave_out:  # .worktreeinclude files (.env) are never saved
            _run_git([*where.args, "reset", "--quiet", "--", *leave_out], worktree, env=env)
        tree = _out([*where.args, "write-tree"], worktree, env=env)
        parents = [arg for c in (head(worktree), *also_keep) for arg in ("-p", c)]
        args = ["commit-tree", tree, *parents, "-m", f"genesis-par: saved {ref}"]
        commit = _out([*where.args, *args], worktree, env=env)
    _run_git([f"--git-dir={where.common_dir}", "update-ref", ref, commit], worktree)
    return commit


def remove_worktree(repo: Path, common_dir: Path, path: Path, trash: Path) -> Path:
    """Move the worktree's files aside (same filesystem: instant) and drop git's record.

    Returns the directory now holding the files, for the caller to delete (in the background)."""
    trash.mkdir(parents=True, exist_ok=True)
    aside = Path(tempfile.mkdtemp(prefix="wt-", dir=trash))
    path.rename(aside / "files")
    with worktree_lock(common_dir):
        _run_git(["worktree", "prune"], repo)
    return aside


def prune_worktrees(repo: Path, common_dir: Path, dry_run: bool) -> list[str]:
    """git's stale worktree records, pruned unless dry_run; what was (or would be) pruned."""
    with worktree_lock(common_dir):
        args = ["worktree", "prune", "--verbose", *(["--dry-run"] if dry_run else [])]
        done = _run_git(args, repo)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


MAX_INCLUDE_FILE = 2**20  # bytes of .worktreeinclude: patterns, not data


def included_files(root: Path) -> list[str]:
    """Untracked or ignored files of the main worktree matching its .worktreeinclude."""
    include = root / ".worktreeinclude"
    try:
        info = include.stat()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise UsageError(f"{include}: cannot read it: {e.strerror}") from None
    # git would wait forever on a FIFO and read /dev/zero until memory runs out
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_INCLUDE_FILE:
        raise UsageError(
            f"{include} must be a regular file of at most 1 MiB (gitignore patterns, one a "
            "line): replace it, or remove it"
        )
    args = ["ls-files", "-z", "--others", "--ignored", f"--exclude-from={include}"]
    return [p for p in _out(args, root).split("\0") if p]


def move_worktree(repo: Path, common_dir: Path, old: Path, new: Path, lock: bool = True) -> None:
    """Move a worktree (git keeps its record right); lock=False when the caller holds the lock."""
    with worktree_lock(common_dir) if lock else contextlib.nullcontext():
        _run_git(["worktree", "move", str(old), str(new)], repo)


def switch_worktree(worktree: Path, branch: str, start: str) -> None:
    """Make a (pooled) worktree a fresh one: new branch at start, exact files, nothing else."""
    where = locate(worktree).args
    _run_git([*where, "checkout", "--quiet", "--force", "-B", branch, start], worktree)
    _run_git([*where, "clean", "-ffdxq"], worktree)


def detach(worktree: Path) -> None:
    """Leave the worktree on no branch (so its branch can be deleted)."""
    _run_git([*locate(worktree).args, "checkout", "--quiet", "--detach"], worktree)


def lock_files(worktree: Path, branch: str) -> list[Path]:
    """The .lock files a git process killed mid-way may have left for this worktree."""
    where = locate(worktree)
    candidates = [
        where.git_dir / "index.lock",
        where.git_dir / "HEAD.lock",
        where.common_dir / "refs" / "heads" / f"{branch}.lock",
    ]
    return [p for p in candidates if p.exists()]
