"""One candidate onto the merge queue's target: probe its merge, build the commit that lands
it, and publish that by compare-and-swap (shared by the one-by-one and the batched queue)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from genesis_par import gitops
from genesis_par.land import conflicts
from genesis_par.land.conflicts import MergeResult
from genesis_par.land.queue import Candidate, QueueSpec
from genesis_par.plan.model import MergeMethod


def _message(spec: QueueSpec, c: Candidate) -> str:
    verb = "Squash" if spec.method is MergeMethod.SQUASH else "Merge"
    return (
        f"{verb} {c.branch} ({c.task.id})\n\nGenesis-Run: {spec.run}\nGenesis-Task: {c.task.id}\n"
    )


class Trees(dict[str, str]):
    """The tree of each commit the queue built (the tree it gave `commit-tree`): the next
    candidate lands on that commit, and git need not be asked its tree again."""

    def of(self, spec: QueueSpec, commit: str, scratch: Mapping[str, str]) -> str:
        """commit's tree, known or asked of git."""
        known = self.get(commit)
        return known if known is not None else gitops.tree_of(spec.repo.root, commit, scratch)


def already_there(
    spec: QueueSpec, tip: str, probe: MergeResult, scratch: Mapping[str, str], trees: Trees
) -> bool:
    """Whether the probed candidate's merge changes nothing on tip (a resumed run)."""
    return probe.clean and probe.tree == trees.of(spec, tip, scratch)


def probe(
    spec: QueueSpec, tip: str, c: Candidate, scratch: Mapping[str, str], trees: Trees
) -> MergeResult:
    """Merge c onto tip, as its method will land it.

    `merge` keeps the task's history, so git's own merge base is right. `squash` and `rebase`
    land only the task's own change (start..commit), like a cherry-pick: the merge is against a
    stand-in for tip whose one parent is the task's start, which makes start the merge base even
    when the task's dependencies landed as new (squashed or replayed) commits."""
    repo = spec.repo.root
    if spec.method is MergeMethod.MERGE or c.start is None:
        return conflicts.merge_one(repo, tip, c.commit, scratch)
    env = {**spec.git_env, **scratch}
    tree = trees.of(spec, tip, scratch)
    stand_in = gitops.commit_tree(repo, tree, [c.start], "genesis-par: merge probe", env)
    return conflicts.merge_one(repo, stand_in, c.commit, scratch)


def combine(spec: QueueSpec, tip: str, c: Candidate, tree: str, trees: Trees) -> str | None:
    """The commit that lands c on tip (its tree kept in trees); None when a rebase hits a
    conflict."""
    repo = spec.repo.root
    if spec.method is not MergeMethod.REBASE:
        parents = [tip, c.commit] if spec.method is MergeMethod.MERGE else [tip]
        made = gitops.commit_tree(
            repo, tree, parents, _message(spec, c), spec.git_env, spec.repo.common_dir
        )
        trees[made] = tree
        return made
    assert spec.check_worktree is not None
    base = c.start or gitops.merge_base(repo, tip, c.commit) or tip  # replay its own commits only
    gitops.checkout_detached(spec.check_worktree, tip)
    if not gitops.cherry_pick(
        spec.check_worktree, gitops.commits_between(repo, base, c.commit), spec.git_env
    ):
        return None
    return gitops.head(spec.check_worktree)


def conflicts_with(
    result: conflicts.MergeResult,
    candidate: Candidate,
    merged: Sequence[str],
    touched: Callable[[str], set[str]],
) -> tuple[tuple[str, str, str], ...]:
    """Name, for each conflict, every merged task that conflicts with this one (by the pairwise
    probe) and changed its path too; with none, the conflict is with the target's own work."""
    named = []
    for c in result.conflicts:
        paths = set(c.paths or (c.path,))
        others = [m for m in merged if m in candidate.conflicts_with and paths & touched(m)] or [
            "target"
        ]
        named += [(c.path, c.kind.value, other) for other in others]
    return tuple(named)


def in_the_way(spec: QueueSpec) -> str | None:
    """Why a checked-out target cannot move: the uncommitted changes in its worktree."""
    if spec.checked_out is None:
        return None
    changed = gitops.local_changes(spec.checked_out)
    if not changed:
        return None
    more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
    return (
        f"uncommitted changes in {spec.checked_out} ({changed[0]}{more}) are in the way: "
        "commit or stash them, then merge again"
    )


def publish(spec: QueueSpec, new: str, old: str, task: str) -> bool:
    """Compare-and-swap the target; a checked-out target moves its worktree's files too.

    The move is journaled before the swap and settled after it: killed in between (SIGKILL, or
    a Ctrl-C landing there), the journal still names a move that may have been made."""
    token = spec.journal.intend(spec.into_ref, old, new, task) if spec.journal else None
    if spec.checked_out is None:
        moved = gitops.try_update_ref(spec.repo.root, spec.into_ref, new, old, spec.repo.common_dir)
    else:
        moved = gitops.try_fast_forward(spec.checked_out, old, new)
    if spec.journal is not None and token is not None:
        spec.journal.settle(token, moved)
    return moved
