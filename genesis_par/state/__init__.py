"""Where a run's state lives: the SQLite store, its merge journal and its faults."""

from genesis_par.state.store import SCHEMA, SCHEMA_VERSION, Store, run_lock, run_supervised

__all__ = ["SCHEMA", "SCHEMA_VERSION", "Store", "run_lock", "run_supervised"]
