"""Worktrees: adding, committing in, switching, saving and removing them."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from genesis_par import flock
from genesis_par.errors import UsageError
from genesis_par.gitops import sessions
from genesis_par.gitops.located import WorktreeBroken, locate
from genesis_par.gitops.refs import head, no_deref
from genesis_par.gitops.residue import gitlinks, in_submodule_folders
from genesis_par.gitops.run import _out, _run_git, identity_env, repo_config
from genesis_par.gitops.worktree_state import hidden_files


@contextlib.contextmanager
def worktree_lock(common_dir: Path) -> Iterator[None]:
    """Serialize `git worktree add/remove/prune`: run at once, they race on git's files."""
    lock_path = common_dir / "genesis-par" / "worktrees.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with flock.exclusive(lock_path):
        yield


def add_worktree(repo: Path, common_dir: Path, path: Path, branch: str, start: str) -> None:
    """Create branch at start (it must not exist) checked out in a new worktree at path.

    Only git's bookkeeping is done under the lock: the checkout, most of the cost, runs
    beside other tasks' checkouts. A run killed between the two leaves a worktree with no
    index, whose files all look deleted: a resumed attempt saves that as it saves any
    interrupted attempt's work, then resets the worktree to its start."""
    with worktree_lock(common_dir):
        if _plain_layout(common_dir) and _SAFE_NAME.fullmatch(path.name):
            _link_worktree(repo, common_dir, path, branch, start)
        else:
            args = ["worktree", "add", "--quiet", "--no-checkout", "-b", branch, str(path), start]
            _run_git(args, repo)
    where = locate(path).args
    _run_git([*where, "reset", "--hard", "--quiet", "--no-recurse-submodules"], path)


CREATED = "branch: Created by genesis-par"  # its reflog's first line (the start is its value)
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # a folder name git keeps as it is
_HALF_LINK = ".git.genesis-par"  # the `.git` link being written, renamed over `.git` whole
_INITIALIZING = "initializing"  # the lock `git worktree add` holds on a record it is making
# The lock a task's record holds while a process of the task runs there: another agent's
# `git worktree remove --force` (or move, or prune) refuses a locked worktree, so one task's
# agent cleaning up "stale" worktrees cannot delete a running task's uncommitted work.
RUNNING = "genesis-par: a process of this task is running here"


def _plain_layout(common_dir: Path) -> bool:
    """Whether `git worktree add` would do no more than write its three link files here: no
    sparse checkout to copy, no per-worktree config, refs in files (the repository's config,
    as git reads it once for each state of its file)."""
    config = repo_config(common_dir)
    return config is not None and all(
        value.strip().lower() in ("false", "no", "off", "0", "files")
        for key, value in config.items()
        if _NOT_PLAIN.fullmatch(key)
    )


_NOT_PLAIN = re.compile(
    r"core\.sparsecheckout|extensions\.(worktreeconfig|refstorage|relativeworktrees)"
)


def _link_worktree(repo: Path, common_dir: Path, path: Path, branch: str, start: str) -> None:
    """What `git worktree add --no-checkout -b branch path start` does where the layout is
    plain (see gitrepository-layout: worktrees/<id>/gitdir, commondir, HEAD), without git's
    look at every other worktree first: that look grows with their number, 0.08 ms each (47
    ms per add beside 500 worktrees, all of it under our lock), and costs three processes.
    The branch is created only if it does not exist, as `-b` would."""
    ref = f"refs/heads/{branch}"
    common = Path(os.path.realpath(common_dir))
    sessions.update_ref(common, ref, start, None, CREATED, create_reflog=True)
    admin: Path | None = None
    linked = False
    try:
        path.mkdir(parents=True, exist_ok=True)
        if any(path.iterdir()):
            raise UsageError(f"{path} already exists and is not empty: a worktree cannot go there")
        admin = _new_admin_dir(common / "worktrees", path.name)
        (admin / "locked").write_text(f"{_INITIALIZING}\n")  # `git worktree prune` leaves it
        real = Path(os.path.realpath(path))
        (admin / "gitdir").write_text(f"{real / '.git'}\n")
        (admin / "commondir").write_text("../..\n")
        (admin / "HEAD").write_text(f"ref: {ref}\n")
        # last: a run killed before it leaves no worktree that points at half a record (the
        # resumed run removes the locked record and makes the worktree again); whole at once,
        # so that no git (nor a kill) ever finds an empty `.git` there
        linked = True
        half = real / _HALF_LINK
        half.write_text(f"gitdir: {admin}\n")
        os.replace(half, real / ".git")
        (admin / "locked").unlink()
    except BaseException:
        if linked:
            (path / ".git").unlink(missing_ok=True)
            (path / _HALF_LINK).unlink(missing_ok=True)
        if admin is not None:
            shutil.rmtree(admin, ignore_errors=True)
        _run_git([f"--git-dir={common}", "update-ref", "-d", ref, start], repo, check=False)
        raise


def _drop_half_made(common_dir: Path, path: Path) -> None:
    """Remove the records of a worktree at path that a killed run (ours or git's own
    `worktree add`) left locked while "initializing", before path got its `.git`: git keeps
    them (`prune` skips a locked record) and refuses to add a worktree at that path again."""
    if (path / ".git").exists():
        return
    (path / _HALF_LINK).unlink(missing_ok=True)  # killed while writing the link
    dot_git = os.path.realpath(path / ".git")
    for folder, named, lock in _locked_records(common_dir):
        if lock == _INITIALIZING and os.path.realpath(named) == dot_git:
            shutil.rmtree(folder, ignore_errors=True)


def _locked_records(common_dir: Path) -> Iterator[tuple[Path, str, str]]:
    """(folder, the `.git` it names, its lock's reason) of each locked worktree record."""
    with contextlib.suppress(OSError), os.scandir(common_dir / "worktrees") as records:
        for record in records:
            folder = Path(record.path)
            try:
                named = (folder / "gitdir").read_text().strip()
                lock = (folder / "locked").read_text().strip()
            except (OSError, UnicodeDecodeError):
                continue
            yield folder, named, lock


def _new_admin_dir(root: Path, name: str) -> Path:
    """worktrees/<name>, or <name>1, <name>2, ... if taken, made here and now (as git does)."""
    root.mkdir(exist_ok=True)
    for counter in range(1_000_000):
        admin = root / (name if counter == 0 else f"{name}{counter}")
        try:
            admin.mkdir()
        except FileExistsError:
            continue
        return admin
    raise UsageError(f"{root} holds a million worktree records: run `git worktree prune`")


def add_worktree_on(repo: Path, common_dir: Path, path: Path, branch: str) -> None:
    """A new worktree at path with an existing branch checked out (git prunes stale records;
    a record left half-made for path by a killed run is removed first)."""
    with worktree_lock(common_dir):
        _drop_half_made(common_dir, path)
        _run_git(["worktree", "prune"], repo)
        _run_git(["worktree", "add", "--quiet", str(path), branch], repo)


def reset_worktree(worktree: Path, commit: str, *, branch: str | None = None) -> None:
    """Put worktree back to commit for another attempt: tracked files reset, untracked files
    removed; ignored files (dependencies, build output, .env) kept as the set-up left them.

    branch: it is set to commit (a plain ref, even where an agent made it a symbolic one) and
    HEAD put back on it first, so the reset moves no branch an agent checked out or linked to
    (a user's)."""
    where = locate(worktree).args
    if branch is not None:
        ref = f"refs/heads/{branch}"
        _run_git([*where, "update-ref", "--no-deref", ref, commit], worktree)
        _run_git([*where, "symbolic-ref", "HEAD", ref], worktree)
    _run_git([*where, "reset", "--quiet", "--hard", commit], worktree)
    _run_git([*where, "clean", "-ffdq"], worktree)


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
        hidden = hidden_files(worktree)
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
    move = ["update-ref", *no_deref(ref), ref, commit]
    _run_git([f"--git-dir={where.common_dir}", *move], worktree)
    return commit


def remove_worktree(repo: Path, common_dir: Path, path: Path, trash: Path) -> Path:
    """Move the worktree's files aside (same filesystem: instant) and drop git's record.

    Returns the directory now holding the files, for the caller to delete (in the background)."""
    trash.mkdir(parents=True, exist_ok=True)
    _release_at(path)  # a killed run's lock: `prune` would keep the record
    aside = Path(tempfile.mkdtemp(prefix="wt-", dir=trash))
    path.rename(aside / "files")
    with worktree_lock(common_dir):
        _run_git(["worktree", "prune"], repo)
    return aside


def prune_worktrees(repo: Path, common_dir: Path, dry_run: bool) -> list[str]:
    """git's stale worktree records, pruned unless dry_run; what was (or would be) pruned."""
    with worktree_lock(common_dir):
        if not dry_run:
            _release_gone(common_dir)
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
        _release_at(old)  # a killed run's lock: `move` refuses a locked worktree
        _run_git(["worktree", "move", str(old), str(new)], repo)


def switch_worktree(worktree: Path, branch: str, start: str) -> None:
    """Make a (pooled) worktree a fresh one: new branch at start, exact files, nothing else."""
    where = locate(worktree).args
    _run_git([*where, "checkout", "--quiet", "--force", "-B", branch, start], worktree)
    _run_git([*where, "clean", "-ffdxq"], worktree)


def detach(worktree: Path) -> None:
    """Leave the worktree on no branch (so its branch can be deleted)."""
    _run_git([*locate(worktree).args, "checkout", "--quiet", "--detach"], worktree)


def hold(git_dir: Path) -> bool:
    """Lock a task worktree's record (git_dir: worktrees/<id>) while a process of the task
    runs, unless it is locked already (by the user, or git); whether this call locked it."""
    try:
        with open(git_dir / "locked", "x") as lock:
            lock.write(f"{RUNNING}\n")
    except OSError:
        return False
    return True


def release(git_dir: Path) -> None:
    """Unlock a record this process or a killed run locked (RUNNING); any other lock stays."""
    with contextlib.suppress(OSError):
        if (git_dir / "locked").read_text().strip() == RUNNING:
            (git_dir / "locked").unlink()


def _release_at(worktree: Path) -> None:
    """release() for the worktree's record, if its `.git` still links to one."""
    with contextlib.suppress(WorktreeBroken):
        release(locate(worktree).git_dir)


def _release_gone(common_dir: Path) -> None:
    """release() the records whose worktree folder is gone (a killed run's lock)."""
    for folder, named, lock in _locked_records(common_dir):
        if lock == RUNNING and not os.path.lexists(named):
            release(folder)


def lock_files(worktree: Path, branch: str) -> list[Path]:
    """The .lock files a git process killed mid-way may have left for this worktree, and the
    lock a killed `worktree add` (git's or ours) leaves on its record while "initializing",
    or a killed run's while a process of the task ran."""
    where = locate(worktree)
    candidates = [
        where.git_dir / "index.lock",
        where.git_dir / "HEAD.lock",
        where.common_dir / "refs" / "heads" / f"{branch}.lock",
    ]
    found = [p for p in candidates if p.exists()]
    with contextlib.suppress(OSError):
        if (where.git_dir / "locked").read_text().strip() in (_INITIALIZING, RUNNING):
            found.append(where.git_dir / "locked")
    return found
