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


def reset_worktree(worktree: Path, commit: str) -> None:
    """Put worktree back to commit for another attempt: tracked files reset, untracked files
    removed; ignored files (dependencies, build output, .env) kept as the set-up left them."""
    _run_git(["reset", "--quiet", "--hard", commit], worktree)
    _run_git(["clean", "-ffdq"], worktree)


class Committed(NamedTuple):
    commit: str  # HEAD after committing
    changed: bool  # HEAD's tree differs from the start commit's
    head_ref: str = "HEAD"  # the branch HEAD is on (refs/heads/...), or HEAD when detached


def commit_all(
    worktree: Path,
    message: str,
    start: str,
    env: Mapping[str, str] | None = None,
    leave_out: Sequence[str] = (),
) -> Committed:
    """Commit everything in worktree (untracked too, .gitignore respected) but leave_out."""
    _run_git(["add", "--all"], worktree)
    if leave_out:  # files copied in by .worktreeinclude (.env and the like) are never committed
        _run_git(["reset", "--quiet", "--", *leave_out], worktree)
    # no auto-maintenance after each of a run's many commits: one process fewer per task
    args = ["-c", "maintenance.auto=false", "commit", "--quiet", "--no-verify", "-m", message]
    done = _run_git(args, worktree, env=env, check=False)
    said = done.stdout + done.stderr
    if done.returncode != 0 and not ("nothing to commit" in said or "nothing added" in said):
        raise GitError(f"git commit failed in {worktree}: {(done.stderr or done.stdout).strip()}")
    commit, tree, start_tree, on = _out(
        ["rev-parse", "HEAD", "HEAD^{tree}", f"{start}^{{tree}}", "--symbolic-full-name", "HEAD"],
        worktree,
    ).split()
    return Committed(commit, tree != start_tree, on)


def attach_branch(worktree: Path, branch: str, done: Committed) -> None:
    """Have branch at the commit and checked out in worktree, as it was before the agent
    switched branch or detached HEAD (the work is committed: no file changes)."""
    if done.head_ref != f"refs/heads/{branch}":
        _run_git(["checkout", "--quiet", "-B", branch, done.commit], worktree)


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
    _run_git(["checkout", "--quiet", "--force", "--detach", commit], worktree)
    _run_git(["clean", "-ffdxq"], worktree)


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
    """No staged, unstaged or untracked (not ignored) changes."""
    args = ["status", "--porcelain", "--untracked-files=normal"]
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
    return _run_git(["merge", "--quiet", "--ff-only", new], worktree, check=False).returncode == 0


def try_reset_checked_out(worktree: Path, old: str, new: str) -> bool:
    """Move the branch checked out in worktree from old to new, any direction, with its files
    (`reset --keep`); False if the branch was not at old or local changes are in the way."""
    if head(worktree) != old:
        return False
    return _run_git(["reset", "--quiet", "--keep", new], worktree, check=False).returncode == 0


def cherry_pick(worktree: Path, commits: Sequence[str], env: Mapping[str, str] | None) -> bool:
    """Replay commits onto the worktree's HEAD; on a conflict abort and return False."""
    if not commits:
        return True
    args = ["cherry-pick", "--allow-empty", "--keep-redundant-commits", *commits]
    if _run_git(args, worktree, env=env, check=False).returncode == 0:
        return True
    _run_git(["cherry-pick", "--abort"], worktree, check=False)
    return False


def worktree_snapshot(worktree: Path, env: Mapping[str, str]) -> tuple[str, str]:
    """(a commit of the worktree's current files (untracked too), HEAD: its parent), built in
    a temporary index so the worktree's own index is never touched."""
    with tempfile.TemporaryDirectory(prefix="genesis-index-") as tmp:
        index = Path(tmp) / "index"
        own_index = Path(
            _out(["rev-parse", "--path-format=absolute", "--git-path", "index"], worktree)
        )
        if own_index.exists():
            shutil.copyfile(own_index, index)
        snap_env = {**env, "GIT_INDEX_FILE": str(index), **FALLBACK_IDENTITY}
        _run_git(["add", "--all"], worktree, env=snap_env)
        tree = _out(["write-tree"], worktree, env=snap_env)
        parent = head(worktree)
        snapshot = _run_git(
            ["commit-tree", tree, "-p", parent, "-m", "genesis-par: work in progress"],
            worktree,
            env=snap_env,
        ).stdout.strip()
        return snapshot, parent


def has_uncommitted(worktree: Path) -> bool:
    """Tracked changes or untracked (not ignored) files, or files git status does not show
    (skip-worktree, assume-unchanged) whose content differs from what is committed, or files
    in the folder of a submodule that is not checked out."""
    if not is_clean(worktree):
        return True
    # one listing (tag, mode, path) for both: `ls-files -v` tags, `--stage` modes
    listed = [e for e in _out(["ls-files", "-v", "--stage", "-z"], worktree).split("\0") if e]
    entries = [(e[:1], e[2:].split(" ", 1)[0], e.split("\t", 1)[1]) for e in listed]
    if in_submodule_folders(worktree, [p for _, mode, p in entries if mode == "160000"]):
        return True
    hidden = [p for tag, _, p in entries if tag == "S" or tag.islower()]
    hidden = [f for f in hidden if (worktree / f).is_file()]  # not sparse ones
    if not hidden:
        return False
    done = _run_git(["hash-object", "--", *hidden], worktree, check=False)
    committed = _run_git(["rev-parse", *(f"HEAD:{f}" for f in hidden)], worktree, check=False)
    return done.returncode != 0 or done.stdout.split() != committed.stdout.split()


def _hidden_files(worktree: Path) -> list[str]:
    """Files marked skip-worktree (S) or assume-unchanged (lower-case tag) in the index."""
    listed = _out(["ls-files", "-v", "-z"], worktree).split("\0")
    return [e[2:] for e in listed if e[:1] == "S" or e[:1].islower()]


def is_sparse(worktree: Path) -> bool:
    """Whether worktree uses a sparse checkout (some tracked files absent on purpose)."""
    done = _run_git(["config", "--bool", "core.sparseCheckout"], worktree, check=False)
    return done.stdout.strip() == "true"


def revert(worktree: Path, commits: Sequence[str], env: Mapping[str, str]) -> bool:
    """Revert commits (merges against their first parent) in order; False on a conflict."""
    for commit in commits:
        parents = _out(["rev-list", "--parents", "-n", "1", commit], worktree).split()[1:]
        args = ["revert", "--no-edit", *(["-m", "1"] if len(parents) > 1 else []), commit]
        if _run_git(args, worktree, env=env, check=False).returncode != 0:
            _run_git(["revert", "--abort"], worktree, check=False)
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
    with tempfile.TemporaryDirectory(prefix="genesis-index-") as tmp:
        index = Path(tmp) / "index"
        own = Path(_out(["rev-parse", "--path-format=absolute", "--git-path", "index"], worktree))
        if own.exists():
            shutil.copyfile(own, index)
        env = {"GIT_INDEX_FILE": str(index), **identity_env(worktree)}
        hidden = _hidden_files(worktree)
        if hidden:  # else `add` would pass over their changes
            flags = ["--no-skip-worktree", "--no-assume-unchanged"]
            _run_git(["update-index", *flags, "--", *hidden], worktree, env=env)
        every_link = gitlinks(worktree)
        unseen = in_submodule_folders(worktree, every_link)
        links = [g for g in every_link if any(f.startswith(g + "/") for f in unseen)]
        if links:  # files in a submodule folder that is not checked out: saved as plain files
            _run_git(["update-index", "--force-remove", "--", *links], worktree, env=env)
        _run_git(["add", "--all"], worktree, env=env)
        if leave_out:  # .worktreeinclude files (.env) are never saved
            _run_git(["reset", "--quiet", "--", *leave_out], worktree, env=env)
        tree = _out(["write-tree"], worktree, env=env)
        parents = [arg for c in (head(worktree), *also_keep) for arg in ("-p", c)]
        args = ["commit-tree", tree, *parents, "-m", f"genesis-par: saved {ref}"]
        commit = _run_git(args, worktree, env=env).stdout.strip()
    _run_git(["update-ref", ref, commit], worktree)
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
    _run_git(["checkout", "--quiet", "--force", "-B", branch, start], worktree)
    _run_git(["clean", "-ffdxq"], worktree)


def detach(worktree: Path) -> None:
    """Leave the worktree on no branch (so its branch can be deleted)."""
    _run_git(["checkout", "--quiet", "--detach"], worktree)


def lock_files(worktree: Path, branch: str) -> list[Path]:
    """The .lock files a git process killed mid-way may have left for this worktree."""
    git_dir = Path(_out(["rev-parse", "--path-format=absolute", "--git-dir"], worktree))
    common = Path(_out(["rev-parse", "--path-format=absolute", "--git-common-dir"], worktree))
    candidates = [
        git_dir / "index.lock",
        git_dir / "HEAD.lock",
        common / "refs" / "heads" / f"{branch}.lock",
    ]
    return [p for p in candidates if p.exists()]
