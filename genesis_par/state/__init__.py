"""Where a run's state lives: the SQLite store, its records, its merge journal and its faults.

The store (and sqlite3) is imported on first use: a command that only reads records' types
(`conflicts` on named branches, through land/) does not pay for it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genesis_par.state.store import SCHEMA, SCHEMA_VERSION, Store, run_lock, run_supervised

__all__ = ["SCHEMA", "SCHEMA_VERSION", "Store", "run_lock", "run_supervised"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from genesis_par.state import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
