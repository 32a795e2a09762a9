"""The repository and its refs: finding it, resolving, moving refs by compare-and-swap."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from genesis_par.errors import EnvironmentProblem, GitError
from genesis_par.gitops.located import Located, locate
from genesis_par.gitops.run import MIN_GIT, _out, _run_git, identity_env


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
        raise EnvironmentProblem(_not_a_work_tree(cwd))
    lines = done.stdout.removesuffix("\n").split("\n")
    if len(lines) != 2 or any(_UNSAFE_PATH.search(line) for line in lines):
        raise EnvironmentProblem(
            f"the repository path {done.stdout.strip()!r} holds a newline, a control character "
            "or bytes that are not UTF-8: genesis-par cannot use it safely; move or rename "
            "the repository to a plain path"
        )
    common = Path(lines[0])
    # The main worktree's root: the parent of the common dir unless the repository is bare.
    root = common.parent if common.name == ".git" else Path(lines[1])
    return RepoPaths(root=root, common_dir=common)


_UNSAFE_PATH = re.compile(r"[\x00-\x1f\x7f\udc80-\udcff]")


def _not_a_work_tree(cwd: Path) -> str:
    """Why cwd has no work tree: no repository at all, a bare one, or inside a .git folder."""
    done = _run_git(["rev-parse", "--is-bare-repository", "--is-inside-git-dir"], cwd, check=False)
    bare, inside = [*done.stdout.split(), "false", "false"][:2]
    if done.returncode != 0:
        return (
            f"{cwd} is not inside a git repository: run genesis-par from a repository "
            "(or `git init` one)"
        )
    if bare == "true":
        return (
            f"{cwd} is a bare repository: genesis-par needs a repository with a work tree; run "
            "it from a clone (`git clone`) or a worktree of it (`git worktree add`)"
        )
    where = "inside the .git folder of a repository" if inside == "true" else "not in a work tree"
    return f"{cwd} is {where}: run genesis-par from the repository's work tree"


def resolve_commit(repo: Path, ref: str) -> str | None:
    """The commit ref names, or None."""
    done = _run_git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], repo, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def ref_names(repo: Path, prefix: str) -> list[str]:
    """Every ref under prefix (e.g. `refs/heads/genesis/run/`)."""
    text = _out(["for-each-ref", "--format=%(refname)", prefix], repo)
    return text.splitlines()


def existing_refs(repo: Path, refs: Sequence[str]) -> set[str]:
    """Which of these full ref names exist (one git process)."""
    if not refs:
        return set()
    text = _out(["for-each-ref", "--format=%(refname)", "--", *refs], repo)
    return set(text.splitlines()) & set(refs)


def tracked(repo: Path, folder: str) -> bool:
    """Whether git tracks any file under folder (relative to the repository root)."""
    return bool(_out(["ls-files", "-z", "--", f":(top,literal){folder}"], repo))


def update_ref(repo: Path, ref: str, new: str, old: str | None = None) -> None:
    """Compare-and-swap ref to new; old None means the ref must not exist yet."""
    _run_git(["update-ref", *no_deref(ref), ref, new, old or MUST_NOT_EXIST], repo)


OWN_REFS = ("refs/heads/genesis/", "refs/genesis/")  # genesis-par's namespaces


def no_deref(ref: str) -> list[str]:
    """update-ref's flag for a write to ref: genesis-par's own refs are never symbolic, and
    a write of ours never follows a link an agent made there (see guard_refs) to the user's."""
    return ["--no-deref"] if ref.startswith(OWN_REFS) else []


# update-ref's old value that means "create it, or fail": git's null object id has the length
# of the repository's hash (40 or 64 hex digits), the empty string works with either
MUST_NOT_EXIST = ""


def is_null(oid: str | None) -> bool:
    """Whether oid is git's null object id (all zeros, of either hash's length): a ref that
    does not exist, as a hook or a transaction names it."""
    return bool(oid and not oid.strip("0"))


def ensure_excluded(common_dir: Path, pattern: str) -> None:
    """Add pattern to info/exclude once."""
    exclude = common_dir / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    text = exclude.read_text() if exclude.exists() else ""
    if pattern not in text.splitlines():
        sep = "" if not text or text.endswith("\n") else "\n"
        exclude.write_text(f"{text}{sep}{pattern}\n")


def commit_tree(
    repo: Path,
    tree: str,
    parents: Sequence[str],
    message: str,
    env: Mapping[str, str] | None,
    common_dir: Path | None = None,
) -> str:
    """A new commit of tree with these parents. With the repository's common_dir, written
    here (commit_object) where git would write the same, once the tree and parents are found
    in the repository (as commit-tree checks): no process (the merge queue makes one a task)."""
    if common_dir is not None:
        from genesis_par.gitops import commit_object, sessions  # not for short commands

        if sessions.missing(common_dir, [tree, *parents]) == []:
            made = commit_object.write_commit(common_dir, tree, parents, message, env)
            if made is not None:
                return made
    args = ["commit-tree", tree, *(a for p in parents for a in ("-p", p)), "-m", message]
    return _run_git(args, repo, env=env).stdout.strip()


def tree_of(repo: Path, commit: str, env: Mapping[str, str] | None = None) -> str:
    """The tree of a commit."""
    return _run_git(["rev-parse", f"{commit}^{{tree}}"], repo, env=env).stdout.strip()


def try_update_ref(
    repo: Path, ref: str, new: str, old: str | None, common_dir: Path | None = None
) -> bool:
    """Compare-and-swap; False (not an error) when ref no longer holds old. With the
    repository's common_dir, one of genesis-par's own refs moves through the long-lived
    update-ref (sessions): no process."""
    if common_dir is not None and ref.startswith(OWN_REFS):
        from genesis_par.gitops import sessions  # not for short commands

        try:
            sessions.update_ref(common_dir, ref, new, old, "genesis-par: merge queue")
        except GitError:
            return False
        return True
    args = ["update-ref", *no_deref(ref), ref, new, old or MUST_NOT_EXIST]
    done = _run_git(args, repo, check=False)
    return done.returncode == 0


def commits_between(repo: Path, base: str, tip: str) -> list[str]:
    """The commits of base..tip, oldest first, merges excluded."""
    text = _out(["rev-list", "--reverse", "--no-merges", f"{base}..{tip}"], repo)
    return text.splitlines()


def merge_base(repo: Path, a: str, b: str) -> str | None:
    """The best common ancestor of a and b."""
    done = _run_git(["merge-base", a, b], repo, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


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


def trees_of(repo: Path, revs: Sequence[str]) -> dict[str, str | None]:
    """Each rev's tree (None for one that does not resolve), in one git process."""
    if not revs:
        return {}
    done = _run_git(
        ["cat-file", "--batch-check=%(objectname) %(objecttype)"],
        repo,
        input="".join(f"{r}^{{tree}}\n" for r in revs),
        check=False,
    )
    found: dict[str, str | None] = {}
    for rev, line in zip(revs, done.stdout.splitlines(), strict=False):
        sha, _, kind = line.partition(" ")
        found[rev] = sha if kind == "tree" else None
    return found


def init_repo(path: Path, message: str) -> str:
    """git init path on branch main and commit every file in it; the commit."""
    _run_git(["init", "--quiet", "--initial-branch=main"], path)
    _run_git(["add", "--all"], path)
    _run_git(["commit", "--quiet", "--no-verify", "-m", message], path, env=identity_env(path))
    return head(path)


def first_parent_commits(repo: Path, base: str, tip: str) -> list[str]:
    """The commits on tip's first-parent line since base, oldest first."""
    return _out(["rev-list", "--reverse", "--first-parent", f"{base}..{tip}"], repo).split()


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


def diff_lines(repo: Path, old: str, new: str) -> int:
    """Lines added plus removed between two commits."""
    total = 0
    for line in _out(["diff", "--numstat", old, new], repo).splitlines():
        added, removed, _ = line.split("\t", 2)
        total += int(added) if added.isdigit() else 1
        total += int(removed) if removed.isdigit() else 0
    return total


def head(worktree: Path) -> str:
    """The commit checked out in worktree (a linked worktree, or a main one)."""
    return _out([*locate(worktree, main_ok=True).args, "rev-parse", "HEAD"], worktree)


def head_ref(where: Located) -> str | None:
    """The branch a worktree's HEAD is on (refs/heads/...), None when detached: read from
    its HEAD file when that is git's usual one-line file (no git process), else from git."""
    head_file = where.git_dir / "HEAD"
    text = ""
    if not head_file.is_symlink():
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text = head_file.read_text()
    if _ON_BRANCH.fullmatch(text) and not text.endswith("/.invalid\n"):  # .invalid: reftable
        return text[len("ref: ") : -1]
    if _DETACHED.fullmatch(text):
        return None
    done = _run_git([*where.args, "symbolic-ref", "-q", "HEAD"], where.work_tree, check=False)
    return done.stdout.strip() or None


def on_branch(git_dir: Path | None, ref: str) -> bool:
    """Whether the HEAD file in git_dir is git's one line for ref (`ref: <ref>`), read without
    a git process; False for anything else (a detached or unusual HEAD: ask git)."""
    try:
        return git_dir is not None and (git_dir / "HEAD").read_text() == f"ref: {ref}\n"
    except (OSError, UnicodeDecodeError):
        return False


_ON_BRANCH = re.compile(r"ref: refs/heads/[^\n]+\n")
_DETACHED = re.compile(r"[0-9a-f]{40}\n|[0-9a-f]{64}\n")


def current_target(worktree: Path) -> str:
    """The branch checked out in worktree (its short name), or the commit of a detached HEAD."""
    done = _run_git(["symbolic-ref", "--quiet", "--short", "HEAD"], worktree, check=False)
    return done.stdout.strip() or _out(["rev-parse", "HEAD"], worktree)  # the user's own folder
