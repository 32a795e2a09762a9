"""The one door to git: every git command the tool runs goes through here."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from genesis_par.errors import EnvironmentProblem, GitError

MIN_GIT = (2, 38)


def _run_git(
    args: Sequence[str],
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run one git command; a failure becomes GitError carrying git's stderr."""
    full_env = {**os.environ, **env} if env else None
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=full_env,
            input=input,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise EnvironmentProblem(
            "git is not installed or not on PATH: install git 2.38 or newer"
        ) from None
    if check and done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise GitError(f"git {args[0]} failed in {cwd}: {detail[-1] if detail else 'no output'}")
    return done


def _out(args: Sequence[str], cwd: Path, **kw: object) -> str:
    return _run_git(args, cwd, **kw).stdout.strip()  # type: ignore[arg-type]


# --- the repository ---


class RepoPaths(NamedTuple):
    root: Path  # the main worktree's root (worktrees and .genesis live here)
    common_dir: Path  # the git common dir (state lives here, shared by all worktrees)


def check_version(cwd: Path) -> None:
    """Refuse git older than MIN_GIT."""
    text = _out(["--version"], cwd)
    found = re.search(r"(\d+)\.(\d+)", text)
    if not found or (int(found[1]), int(found[2])) < MIN_GIT:
        need = ".".join(map(str, MIN_GIT))
        raise EnvironmentProblem(f"{text} is too old: genesis-par needs git {need} or newer")


def discover(cwd: Path) -> RepoPaths:
    """The repository that holds cwd, from any subfolder or linked worktree."""
    done = _run_git(
        ["rev-parse", "--path-format=absolute", "--git-common-dir", "--show-toplevel"],
        cwd,
        check=False,
    )
    if done.returncode != 0:
        raise EnvironmentProblem(
            f"{cwd} is not inside a git repository: run genesis-par from a repository "
            "(or `git init` one)"
        )
    common_text, *_ = done.stdout.splitlines()
    common = Path(common_text)
    # The main worktree's root: the parent of the common dir unless the repository is bare.
    root = common.parent if common.name == ".git" else Path(done.stdout.splitlines()[-1])
    return RepoPaths(root=root, common_dir=common)


def resolve_commit(repo: Path, ref: str) -> str | None:
    """The commit ref names, or None."""
    done = _run_git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], repo, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def ref_names(repo: Path, prefix: str) -> list[str]:
    """Every ref under prefix (e.g. `refs/heads/genesis/run/`)."""
    text = _out(["for-each-ref", "--format=%(refname)", prefix], repo)
    return text.splitlines()


def update_ref(repo: Path, ref: str, new: str, old: str | None = None) -> None:
    """Compare-and-swap ref to new; old None means the ref must not exist yet."""
    _run_git(["update-ref", ref, new, old or "0" * 40], repo)


def ensure_excluded(common_dir: Path, pattern: str) -> None:
    """Add pattern to info/exclude once."""
    exclude = common_dir / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    text = exclude.read_text() if exclude.exists() else ""
    if pattern not in text.splitlines():
        sep = "" if not text or text.endswith("\n") else "\n"
        exclude.write_text(f"{text}{sep}{pattern}\n")


# --- worktrees and branches ---


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
    """Put worktree back to commit: tracked files reset, untracked and ignored files removed."""
    _run_git(["reset", "--quiet", "--hard", commit], worktree)
    _run_git(["clean", "-ffdxq"], worktree)


def head(worktree: Path) -> str:
    """The commit checked out in worktree."""
    return _out(["rev-parse", "HEAD"], worktree)


class Committed(NamedTuple):
    commit: str  # HEAD after committing
    changed: bool  # HEAD's tree differs from the start commit's


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
    done = _run_git(
        ["commit", "--quiet", "--no-verify", "-m", message], worktree, env=env, check=False
    )
    said = done.stdout + done.stderr
    if done.returncode != 0 and not ("nothing to commit" in said or "nothing added" in said):
        raise GitError(f"git commit failed in {worktree}: {(done.stderr or done.stdout).strip()}")
    commit, tree, start_tree = _out(
        ["rev-parse", "HEAD", "HEAD^{tree}", f"{start}^{{tree}}"], worktree
    ).split()
    return Committed(commit, tree != start_tree)


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
            ["merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", current, other],
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


FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "genesis-par",
    "GIT_AUTHOR_EMAIL": "genesis-par@localhost",
    "GIT_COMMITTER_NAME": "genesis-par",
    "GIT_COMMITTER_EMAIL": "genesis-par@localhost",
}


def identity_env(repo: Path) -> dict[str, str]:
    """Environment that lets git commit: empty when the user has an identity configured."""
    done = _run_git(["var", "GIT_COMMITTER_IDENT"], repo, check=False)
    return {} if done.returncode == 0 else dict(FALLBACK_IDENTITY)


# --- merging ---


def commit_tree(
    repo: Path, tree: str, parents: Sequence[str], message: str, env: Mapping[str, str] | None
) -> str:
    """A new commit of tree with these parents."""
    args = ["commit-tree", tree, *(a for p in parents for a in ("-p", p)), "-m", message]
    return _run_git(args, repo, env=env).stdout.strip()


def tree_of(repo: Path, commit: str, env: Mapping[str, str] | None = None) -> str:
    """The tree of a commit."""
    return _run_git(["rev-parse", f"{commit}^{{tree}}"], repo, env=env).stdout.strip()


def try_update_ref(repo: Path, ref: str, new: str, old: str | None) -> bool:
    """Compare-and-swap; False (not an error) when ref no longer holds old."""
    done = _run_git(["update-ref", ref, new, old or "0" * 40], repo, check=False)
    return done.returncode == 0


def commits_between(repo: Path, base: str, tip: str) -> list[str]:
    """The commits of base..tip, oldest first, merges excluded."""
    text = _out(["rev-list", "--reverse", "--no-merges", f"{base}..{tip}"], repo)
    return text.splitlines()


def merge_base(repo: Path, a: str, b: str) -> str | None:
    """The best common ancestor of a and b."""
    done = _run_git(["merge-base", a, b], repo, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


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


def is_clean(worktree: Path) -> bool:
    """No staged, unstaged or untracked (not ignored) changes."""
    return _out(["status", "--porcelain", "--untracked-files=normal"], worktree) == ""


def try_fast_forward(worktree: Path, old: str, new: str) -> bool:
    """Move the branch checked out in worktree from old to new with its files; False if it moved."""
    if head(worktree) != old:
        return False
    return _run_git(["merge", "--quiet", "--ff-only", new], worktree, check=False).returncode == 0


def cherry_pick(worktree: Path, commits: Sequence[str], env: Mapping[str, str] | None) -> bool:
    """Replay commits onto the worktree's HEAD; on a conflict abort and return False."""
    if not commits:
        return True
    args = ["cherry-pick", "--allow-empty", "--keep-redundant-commits", *commits]
    if _run_git(args, worktree, env=env, check=False).returncode == 0:
        return True
    _run_git(["cherry-pick", "--abort"], worktree, check=False)
    return False


# --- merge probing ---


@contextlib.contextmanager
def scratch_objects(repo: Path) -> Iterator[dict[str, str]]:
    """Environment under which git writes new objects to a throwaway directory, not the repo."""
    objects = Path(_out(["rev-parse", "--path-format=absolute", "--git-path", "objects"], repo))
    with tempfile.TemporaryDirectory(prefix="genesis-probe-", dir=_memory_dir()) as scratch:
        yield {
            "GIT_OBJECT_DIRECTORY": scratch,
            "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(objects),
        }


RAM_DIR = Path("/dev/shm")
RAM_DIR_MIN_FREE = 1 << 30


def _memory_dir() -> Path | None:
    """A RAM-backed folder with room to spare, else None (the usual temporary folder).

    Every probed merge writes its trees as loose objects; on a slow disk those writes, not the
    merges, take most of the time. Small /dev/shm mounts (64 MiB in Docker) are passed over."""
    try:
        stat = os.statvfs(RAM_DIR)
    except OSError:
        return None
    roomy = stat.f_bavail * stat.f_frsize >= RAM_DIR_MIN_FREE
    return RAM_DIR if roomy and os.access(RAM_DIR, os.W_OK | os.X_OK) else None


def merge_tree_batch(repo: Path, pairs: Sequence[tuple[str, str]], env: Mapping[str, str]) -> str:
    """The raw `-z` output of one `git merge-tree --write-tree --stdin` over every pair."""
    if not pairs:
        return ""
    lines = "".join(f"{a} {b}\n" for a, b in pairs)
    done = _run_git(
        ["merge-tree", "--write-tree", "-z", "--stdin"], repo, env=env, input=lines, check=False
    )
    if done.returncode not in (0, 1):
        raise GitError(f"git merge-tree --stdin failed in {repo}: {done.stderr.strip()}")
    return done.stdout


def resolve_many(repo: Path, refs: Sequence[str]) -> dict[str, str | None]:
    """Each ref's commit (None for one that does not resolve), in one git process."""
    if not refs:
        return {}
    found: dict[str, str | None] = {}
    done = _run_git(
        ["cat-file", "--batch-check=%(objectname) %(objecttype)"],
        repo,
        input="".join(f"{r}^{{commit}}\n" for r in refs),
        check=False,
    )
    for ref, line in zip(refs, done.stdout.splitlines(), strict=False):
        sha, _, kind = line.partition(" ")
        found[ref] = sha if kind == "commit" else None
    return found


def trees_exist(repo: Path, specs: Sequence[str], env: Mapping[str, str]) -> list[bool]:
    """For each `<commit>:<path>`, whether it names a tree, in one git process."""
    if not specs:
        return []
    done = _run_git(
        ["cat-file", "--batch-check=%(objecttype)"],
        repo,
        env=env,
        input="".join(f"{s}\n" for s in specs),
        check=False,
    )
    return [line == "tree" for line in done.stdout.splitlines()]


class BranchDiff(NamedTuple):
    merge_base: str | None
    commits: frozenset[str]  # merge_base..tip
    changes: tuple[tuple[str, tuple[str, ...]], ...]  # (status letter, paths)


def branch_diffs(
    repo: Path, target: str, tips: Sequence[str], env: Mapping[str, str] | None = None
) -> list[BranchDiff]:
    """What each tip changed since it forked from target, renames detected: one `rev-list`
    for every tip's commits, one `diff-tree --stdin` for every diff."""
    if not tips:
        return []
    listed = _out(["rev-list", "--parents", *dict.fromkeys(tips), f"^{target}"], repo, env=env)
    parents = {line[0]: line[1:] for line in map(str.split, listed.splitlines())}
    forks = [_fork(tip, parents) for tip in tips]
    known = [(tip, base) for tip, (base, _) in zip(tips, forks, strict=True) if base is not None]
    changes = dict(zip(known, _diff_many(repo, known, env), strict=True))
    return [
        BranchDiff(
            base,
            commits,
            changes[(tip, base)]
            if base is not None
            else _diff_from_merge_base(repo, target, tip, env),
        )
        for tip, (base, commits) in zip(tips, forks, strict=True)
    ]


def _fork(tip: str, parents: Mapping[str, list[str]]) -> tuple[str | None, frozenset[str]]:
    """(fork point, commits since it) of tip, from the parents of every commit not in target.

    The fork point is the one commit of target that the walk from tip reaches; several (merges
    from elsewhere) or none (unrelated histories) leave it unknown."""
    if tip not in parents:
        return tip, frozenset()  # tip is already in target
    seen, todo, boundary = {tip}, [tip], set()
    while todo:
        for parent in parents[todo.pop()]:
            if parent not in parents:
                boundary.add(parent)
            elif parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return (boundary.pop() if len(boundary) == 1 else None), frozenset(seen)


def _diff_many(
    repo: Path, tips_and_bases: Sequence[tuple[str, str]], env: Mapping[str, str] | None
) -> list[tuple[tuple[str, tuple[str, ...]], ...]]:
    """The name-status diff of each (tip, base), base to tip, in one git process."""
    if not tips_and_bases:
        return []
    lines = "".join(f"{tip} {base}\n" for tip, base in tips_and_bases)
    raw = _run_git(
        ["diff-tree", "--stdin", "--always", "-r", "-M", "--name-status", "-z"],
        repo,
        env=env,
        input=lines,
    ).stdout
    diffs: list[list[tuple[str, tuple[str, ...]]]] = []
    tokens, i = raw.split("\0"), 0
    while i < len(tokens) and tokens[i]:
        if _is_object_id(tokens[i]):  # each (tip, base) starts with tip's id
            diffs.append([])
            i += 1
            continue
        count = 2 if tokens[i][0] in "RC" else 1
        diffs[-1].append((tokens[i][0], tuple(tokens[i + 1 : i + 1 + count])))
        i += 1 + count
    return [tuple(d) for d in diffs]


def _is_object_id(token: str) -> bool:
    return len(token) in (40, 64) and all(c in "0123456789abcdef" for c in token)


def _diff_from_merge_base(
    repo: Path, target: str, tip: str, env: Mapping[str, str] | None
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    raw = _run_git(["diff", "--name-status", "-M", "-z", f"{target}...{tip}"], repo, env=env).stdout
    return tuple(_parse_name_status(raw))


def _parse_name_status(raw: str) -> list[tuple[str, tuple[str, ...]]]:
    tokens = raw.split("\0")
    changes, i = [], 0
    while i < len(tokens) and tokens[i]:
        status = tokens[i][0]
        count = 2 if status in "RC" else 1
        changes.append((status, tuple(tokens[i + 1 : i + 1 + count])))
        i += 1 + count
    return changes


def worktree_snapshot(worktree: Path, env: Mapping[str, str]) -> str:
    """A commit of the worktree's current files (untracked too), parent HEAD, built in a
    temporary index so the worktree's own index is never touched."""
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
        return _run_git(
            ["commit-tree", tree, "-p", parent, "-m", "genesis-par: work in progress"],
            worktree,
            env=snap_env,
        ).stdout.strip()


def has_uncommitted(worktree: Path) -> bool:
    """Tracked changes or untracked (not ignored) files."""
    return not is_clean(worktree)


def init_repo(path: Path, message: str) -> str:
    """git init path on branch main and commit every file in it; the commit."""
    _run_git(["init", "--quiet", "--initial-branch=main"], path)
    _run_git(["add", "--all"], path)
    _run_git(["commit", "--quiet", "--no-verify", "-m", message], path, env=identity_env(path))
    return head(path)


def first_parent_commits(repo: Path, base: str, tip: str) -> list[str]:
    """The commits on tip's first-parent line since base, oldest first."""
    return _out(["rev-list", "--reverse", "--first-parent", f"{base}..{tip}"], repo).split()


def revert(worktree: Path, commits: Sequence[str], env: Mapping[str, str]) -> bool:
    """Revert commits (merges against their first parent) in order; False on a conflict."""
    for commit in commits:
        parents = _out(["rev-list", "--parents", "-n", "1", commit], worktree).split()[1:]
        args = ["revert", "--no-edit", *(["-m", "1"] if len(parents) > 1 else []), commit]
        if _run_git(args, worktree, env=env, check=False).returncode != 0:
            _run_git(["revert", "--abort"], worktree, check=False)
            return False
    return True


# --- worktree lifecycle ---


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


def landed(repo: Path, branch: str, start: str, target: str) -> bool:
    """Whether target holds branch's work: merged, or its changes present (squash, rebase)."""
    if _run_git(["merge-base", "--is-ancestor", branch, target], repo, check=False).returncode == 0:
        return True
    changed = _out(["diff", "--name-only", "-z", start, branch], repo).split("\0")
    paths = [p for p in changed if p]
    if not paths:
        return True
    done = _run_git(["diff", "--quiet", branch, target, "--", *paths], repo, check=False)
    return done.returncode == 0


def save_to_ref(worktree: Path, ref: str) -> str:
    """Keep everything in worktree (committed or not) under ref; the saved commit."""
    with tempfile.TemporaryDirectory(prefix="genesis-index-") as tmp:
        index = Path(tmp) / "index"
        own = Path(_out(["rev-parse", "--path-format=absolute", "--git-path", "index"], worktree))
        if own.exists():
            shutil.copyfile(own, index)
        env = {"GIT_INDEX_FILE": str(index), **identity_env(worktree)}
        _run_git(["add", "--all"], worktree, env=env)
        tree = _out(["write-tree"], worktree, env=env)
        args = ["commit-tree", tree, "-p", head(worktree), "-m", f"genesis-par: saved {ref}"]
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


def delete_branch(repo: Path, branch: str, expected: str) -> bool:
    """Delete a branch only if it still points at expected (compare-and-swap)."""
    return (
        _run_git(
            ["update-ref", "-d", f"refs/heads/{branch}", expected], repo, check=False
        ).returncode
        == 0
    )


def delete_ref(repo: Path, ref: str) -> None:
    """Delete a ref."""
    _run_git(["update-ref", "-d", ref], repo)


def included_files(root: Path) -> list[str]:
    """Untracked or ignored files of the main worktree matching its .worktreeinclude."""
    include = root / ".worktreeinclude"
    if not include.exists():
        return []
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


def diff_lines(repo: Path, old: str, new: str) -> int:
    """Lines added plus removed between two commits."""
    total = 0
    for line in _out(["diff", "--numstat", old, new], repo).splitlines():
        added, removed, _ = line.split("\t", 2)
        total += int(added) if added.isdigit() else 1
        total += int(removed) if removed.isdigit() else 0
    return total
