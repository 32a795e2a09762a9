"""Recording a worktree's work with plumbing, onto the task's own ref only.

Never `git commit` on whatever HEAD an agent left: an agent may have checked out one of the
user's branches, detached HEAD or started a branch of its own. The worktree's files go into its
own index (named by its git dir), `write-tree`, `commit-tree` on the task branch's tip (or on
the agent's own commits when they descend from it), then a compare-and-swap of the task
branch, and HEAD is put back on it. No other branch moves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from genesis_par.gitops import commit_object, index_tree, loose_objects, sessions
from genesis_par.gitops.located import Located, locate
from genesis_par.gitops.refs import MUST_NOT_EXIST, on_branch
from genesis_par.gitops.run import _out, _run_git


class Committed(NamedTuple):
    commit: str  # the recorded commit (the task branch's tip, or the detached HEAD)
    changed: bool  # its tree differs from the start commit's
    head_ref: str = "HEAD"  # what HEAD was on before (refs/heads/...), or HEAD when detached
    where: Located | None = None  # the worktree as found when recording: nothing ran since


class _Found(NamedTuple):
    head: str | None
    head_tree: str | None
    start_tree: str
    tip: str | None
    tip_tree: str | None
    head_ref: str


def commit_all(
    worktree: Path,
    message: str,
    start: str,
    env: Mapping[str, str] | None = None,
    leave_out: Sequence[str] = (),
    *,
    branch: str | None = None,
    common_dir: Path | None = None,
) -> Committed:
    """Record every file in worktree (untracked too, .gitignore respected) but leave_out.

    With branch: the commit lands on refs/heads/<branch> (compare-and-swap) and HEAD is put
    back on that branch. Without: on a detached HEAD (best_of candidates). common_dir: the
    repository the worktree must belong to."""
    where = locate(worktree, common_dir=common_dir)
    ref = f"refs/heads/{branch}" if branch else None
    found = _find(where, start, ref)
    base = (found.tip or start) if ref else start
    if found.head is not None and (found.head == base or _descends(where, base, found.head)):
        parent, parent_tree = found.head, found.head_tree
    else:  # HEAD is elsewhere (a user's branch, an unrelated commit): the work goes on base
        parent, parent_tree = base, found.tip_tree if base == found.tip else None
    tree = _stage(where, parent, env, leave_out)
    commit = parent
    if tree != parent_tree:
        commit = _commit(where, tree, parent, message, env)
        _remember(commit, tree)
    if ref is not None:
        if commit != found.tip:
            sessions.update_ref(where.common_dir, ref, commit, found.tip, "genesis-par: record")
        if found.head_ref != ref:  # the agent left HEAD elsewhere: back on its own branch
            _run_git([*where.args, "symbolic-ref", "HEAD", ref], worktree)
    elif commit != found.head:
        move = ["update-ref", "--no-deref", "HEAD", commit, found.head or MUST_NOT_EXIST]
        _run_git([*where.args, *move], worktree)
    return Committed(commit, tree != found.start_tree, found.head_ref, where)


_trees: dict[str, str] = {}  # commit -> its tree, as git named them here (a commit's tree is fixed)
_MAX_TREES = 4096


def _find(where: Located, start: str, ref: str | None) -> _Found:
    """HEAD, the start's tree and the branch's tip: none when known (see _known), one process
    when all exist (the usual case), else two that allow for any of them missing (a deleted
    branch, an unborn HEAD)."""
    known = _known(where, start, ref)
    if known is not None:
        return known
    found = _asked(where, start, ref)
    seen = ((start, found.start_tree), (found.head, found.head_tree), (found.tip, found.tip_tree))
    for commit, tree in seen:
        if commit is not None and tree is not None:
            _remember(commit, tree)
    return found


def _known(where: Located, start: str, ref: str | None) -> _Found | None:
    """_find without git in the usual case: HEAD on the task's branch (a plain ref in its own
    file) whose tip and the start are commits whose trees this process has seen."""
    if ref is None or not on_branch(where.git_dir, ref):
        return None
    tip = _read_line(where.common_dir / ref)
    tip_tree, start_tree = _trees.get(tip or ""), _trees.get(start)
    if tip is None or tip_tree is None or start_tree is None:
        return None
    return _Found(tip, tip_tree, start_tree, tip, tip_tree, ref)


def _read_line(path: Path) -> str | None:
    try:
        return path.read_text().rstrip("\n")
    except (OSError, UnicodeDecodeError):
        return None


def _remember(commit: str, tree: str) -> None:
    if len(_trees) >= _MAX_TREES:
        _trees.clear()
    _trees[commit] = tree


def _asked(where: Located, start: str, ref: str | None) -> _Found:
    """_find by asking git."""
    names = ["HEAD", "HEAD^{tree}", f"{start}^{{tree}}", *([ref, f"{ref}^{{tree}}"] if ref else [])]
    args = [*where.args, "rev-parse", *names, "--symbolic-full-name", "HEAD"]
    quick = _run_git(args, where.work_tree, check=False)
    if quick.returncode == 0:
        *known, head_ref = quick.stdout.split()
        return _found(known, head_ref)
    args = [*where.args, "cat-file", "--batch-check=%(objectname)"]
    listed = _run_git(args, where.work_tree, input="".join(f"{n}\n" for n in names)).stdout
    symbolic = _run_git([*where.args, "symbolic-ref", "-q", "HEAD"], where.work_tree, check=False)
    ids = [None if line.endswith(" missing") else line for line in listed.splitlines()]
    return _found(ids, symbolic.stdout.strip() or "HEAD")


def _found(ids: Sequence[str | None], head_ref: str) -> _Found:
    head, head_tree, start_tree, *tip = ids
    assert start_tree is not None, "the start commit is always there"
    return _Found(
        head,
        head_tree,
        start_tree,
        tip[0] if tip else None,
        tip[1] if tip else None,
        head_ref,
    )


def _descends(where: Located, ancestor: str, commit: str) -> bool:
    args = [*where.args, "merge-base", "--is-ancestor", ancestor, commit]
    return _run_git(args, where.work_tree, check=False).returncode == 0


def _stage(
    where: Located, parent: str, env: Mapping[str, str] | None, leave_out: Sequence[str]
) -> str:
    """The tree of the worktree's files (in its own index) with leave_out as in parent."""
    _run_git([*where.args, "add", "--all"], where.work_tree)
    if leave_out:  # files copied in by .worktreeinclude (.env and the like) are never committed
        _run_git([*where.args, "reset", "--quiet", parent, "--", *leave_out], where.work_tree)
    return _tree_of_index(where, parent, env) or _out(
        [*where.args, "write-tree"], where.work_tree, env=env
    )


def _commit(
    where: Located, tree: str, parent: str, message: str, env: Mapping[str, str] | None
) -> str:
    """The commit of tree on parent: written here (commit_object) when the environment names
    no other object store, else by `git commit-tree`."""
    if made := commit_object.write_commit(where.common_dir, tree, [parent], message, env):
        return made
    args = ["commit-tree", tree, "-p", parent, "-m", message]
    return _out([*where.args, *args], where.work_tree, env=env)


def _tree_of_index(where: Located, parent: str, env: Mapping[str, str] | None) -> str | None:
    """The index's tree from its file, written here (index_tree, loose_objects), or None when
    `git write-tree` must make it: an index or objects named by the environment, a shared
    repository, or an index index_tree refuses (git then makes the tree, or says why not)."""
    plain = commit_object.plain_env(env)
    writer = loose_objects.tree_writer(where.common_dir, len(parent) // 2) if plain else None
    if writer is None:
        return None

    def exist(ids: list[bytes]) -> bool:
        return sessions.missing(where.common_dir, [i.hex() for i in ids]) == []

    try:
        return index_tree.tree_of_index(where.git_dir / "index", len(parent) // 2, writer, exist)
    except loose_objects.NotWritten:
        return None
