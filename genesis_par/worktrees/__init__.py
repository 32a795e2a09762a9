"""Task worktrees: naming and allocation, the pool of clean ones, cleaning up."""

from genesis_par.worktrees.allocate import (
    WORKTREES_DIR,
    allocate,
    branch_name,
    check_layout,
    merge_worktree,
    path_for,
    refuse_taken_name,
    start_commit,
    unrecorded_work,
)

__all__ = [
    "WORKTREES_DIR",
    "allocate",
    "branch_name",
    "check_layout",
    "merge_worktree",
    "path_for",
    "refuse_taken_name",
    "start_commit",
    "unrecorded_work",
]
