"""The one door to git: every git command the tool runs goes through this package.

run.py runs git; refs.py finds the repository and moves refs; located.py names a worktree's
git dir after checking it; worktree.py works in worktrees; record.py records a worktree's work
on its task's branch; probe.py checks merges and diffs without touching anything.

A submodule is imported when one of its names is first used, so that a short command loads
only what it runs: `conflicts` needs refs and probe, not the fence around an agent (guard) nor
worktrees and clones (issue 19: start-up).
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from genesis_par.gitops.clone import (
        ForeignHistory,
        add_clone,
        borrows_from,
        clone_head,
        fetch_home,
        made_in,
        reclaim,
    )
    from genesis_par.gitops.commit_moves import (
        MergedStart,
        checkout_detached,
        cherry_pick,
        merge_commits,
        revert,
        try_fast_forward,
        try_reset_checked_out,
    )
    from genesis_par.gitops.guard import Fence, Verdict, guard
    from genesis_par.gitops.guard_env import UserHooks
    from genesis_par.gitops.guard_scope import Scope
    from genesis_par.gitops.located import (
        CloneBroken,
        Located,
        WorktreeBroken,
        clone_git_dir,
        is_clone,
        locate,
    )
    from genesis_par.gitops.merging import (
        abort_merge,
        branch_checked_out,
        changed_paths,
        diff_of_paths,
        is_ancestor,
        merge_in_worktree,
        merging,
        stage,
        staged_tree,
        switch_to,
        unmerged_paths,
        unmerged_stages,
    )
    from genesis_par.gitops.probe import (
        BranchDiff,
        branch_diffs,
        landed,
        merge_tree_batch,
        scratch_objects,
        trees_exist,
        unreadable,
    )
    from genesis_par.gitops.record import Committed, commit_all
    from genesis_par.gitops.refs import (
        RepoPaths,
        check_version,
        commit_tree,
        commits_between,
        current_target,
        delete_branch,
        delete_ref,
        diff_lines,
        discover,
        ensure_excluded,
        existing_refs,
        first_parent_commits,
        head,
        init_repo,
        merge_base,
        ref_names,
        resolve_commit,
        resolve_many,
        tracked,
        tree_of,
        trees_of,
        try_update_ref,
        update_ref,
    )
    from genesis_par.gitops.residue import (
        Walked,
        all_committed,
        gitlinks,
        in_progress,
        in_submodule_folders,
        missing_gitlinks,
        nested_repositories,
        walk,
    )
    from genesis_par.gitops.run import (
        FALLBACK_IDENTITY,
        MIN_GIT,
        identity_env,
        without_repository_variables,
    )
    from genesis_par.gitops.worktree import (
        WorktreeEntry,
        add_detached_worktree,
        add_worktree,
        add_worktree_on,
        checked_out_in,
        detach,
        included_files,
        lock_files,
        move_worktree,
        prune_worktrees,
        remove_worktree,
        reset_worktree,
        save_to_ref,
        switch_worktree,
        worktree_lock,
        worktrees,
    )
    from genesis_par.gitops.worktree_state import (
        has_uncommitted,
        is_clean,
        is_sparse,
        local_changes,
        worktree_snapshot,
    )

__all__ = [
    "FALLBACK_IDENTITY",
    "MIN_GIT",
    "BranchDiff",
    "CloneBroken",
    "Committed",
    "Fence",
    "ForeignHistory",
    "Located",
    "MergedStart",
    "RepoPaths",
    "Scope",
    "UserHooks",
    "Verdict",
    "Walked",
    "WorktreeBroken",
    "WorktreeEntry",
    "abort_merge",
    "add_clone",
    "add_detached_worktree",
    "add_worktree",
    "add_worktree_on",
    "all_committed",
    "borrows_from",
    "branch_checked_out",
    "branch_diffs",
    "changed_paths",
    "check_version",
    "checked_out_in",
    "checkout_detached",
    "cherry_pick",
    "clone_git_dir",
    "clone_head",
    "commit_all",
    "commit_tree",
    "commits_between",
    "current_target",
    "delete_branch",
    "delete_ref",
    "detach",
    "diff_lines",
    "diff_of_paths",
    "discover",
    "ensure_excluded",
    "existing_refs",
    "fetch_home",
    "first_parent_commits",
    "gitlinks",
    "guard",
    "has_uncommitted",
    "head",
    "identity_env",
    "in_progress",
    "in_submodule_folders",
    "included_files",
    "init_repo",
    "is_ancestor",
    "is_clean",
    "is_clone",
    "is_sparse",
    "landed",
    "local_changes",
    "locate",
    "lock_files",
    "made_in",
    "merge_base",
    "merge_commits",
    "merge_in_worktree",
    "merge_tree_batch",
    "merging",
    "missing_gitlinks",
    "move_worktree",
    "nested_repositories",
    "prune_worktrees",
    "reclaim",
    "ref_names",
    "remove_worktree",
    "reset_worktree",
    "resolve_commit",
    "resolve_many",
    "revert",
    "save_to_ref",
    "scratch_objects",
    "stage",
    "staged_tree",
    "switch_to",
    "switch_worktree",
    "tracked",
    "tree_of",
    "trees_exist",
    "trees_of",
    "try_fast_forward",
    "try_reset_checked_out",
    "try_update_ref",
    "unmerged_paths",
    "unmerged_stages",
    "unreadable",
    "update_ref",
    "walk",
    "without_repository_variables",
    "worktree_lock",
    "worktree_snapshot",
    "worktrees",
]


# Where a name is looked for, in this order: what `conflicts` needs first.
_SEARCH = (
    "refs",
    "run",
    "located",
    "probe",
    "worktree_state",
    "merging",
    "commit_moves",
    "record",
    "residue",
    "worktree",
    "clone",
    "guard",
    "guard_env",
)


def _public_names(module: ModuleType) -> None:
    """Bind the module's public names here."""
    found = vars(module)
    globals().update({name: found[name] for name in __all__ if name in found})


class _Package(ModuleType):
    """This package: importing a submodule never hides a public name of the same spelling
    (`gitops.guard` is the function, also while another thread imports gitops/guard.py)."""

    def __setattr__(self, name: str, value: object) -> None:
        if not (name in __all__ and isinstance(value, ModuleType)):
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


if not TYPE_CHECKING:  # mypy reads the imports above, not a catch-all __getattr__

    def __getattr__(name: str) -> object:
        if name in __all__:
            for submodule in _SEARCH:
                _public_names(importlib.import_module(f"{__name__}.{submodule}"))
                if name in globals():
                    return globals()[name]
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
