"""`on_conflict` (in [merge] and per task), `rerun_limit` and `resolver`: what the merge queue
does with a task left unmerged because of conflicts (issue 15)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

from genesis_par.plan.values import Where, enum_value, typed

DEFAULT_RERUN_LIMIT = 2
RESOLUTION_KEYS = frozenset({"on_conflict", "rerun_limit", "resolver"})  # of [merge]


class OnConflict(enum.Enum):
    """What to do with a task whose branch conflicts with the target."""

    LEAVE = "leave"  # unmerged, with its conflicts (as before)
    RERUN = "rerun"  # a new attempt of its own agent on the current target tip
    AGENT = "agent"  # [merge] resolver finishes the conflicted merge
    PREFER_TARGET = "prefer-target"  # `git merge -X ours`: content conflicts take the target's
    PREFER_TASK = "prefer-task"  # `git merge -X theirs`: content conflicts take the task's
    MANUAL = "manual"  # left for `genesis-par resolve`

    @property
    def automatic(self) -> bool:
        """Whether the queue tries it by itself."""
        return self not in (OnConflict.LEAVE, OnConflict.MANUAL)


def on_conflict(raw: Mapping[str, Any], where: Where, key: str) -> OnConflict | None:
    """The on_conflict value of a table, None when it is not set."""
    if "on_conflict" not in raw:
        return None
    return enum_value(raw["on_conflict"], OnConflict, where, key)


def rerun_limit(raw: Mapping[str, Any], where: Where) -> int:
    """[merge] rerun_limit: new attempts per task, at least 1."""
    limit = typed(
        raw.get("rerun_limit", DEFAULT_RERUN_LIMIT), int, where, "[merge] rerun_limit", "an integer"
    )
    if limit < 1:
        raise where.error(f"[merge] rerun_limit must be at least 1, not {limit}")
    return int(limit)


# conflict kinds git's `-X ours/theirs` resolves hunk by hunk (or, for a binary file, whole)
BY_SIDE = frozenset({"content", "add/add", "binary"})


def strategies_for(kinds: Iterable[str]) -> list[str]:
    """The on_conflict strategies that can resolve a path with these conflict kinds."""
    every = [s.value for s in OnConflict if s is not OnConflict.LEAVE]
    if set(kinds) <= BY_SIDE:
        return every
    return [s for s in every if not s.startswith("prefer-")]
