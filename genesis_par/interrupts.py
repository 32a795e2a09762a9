"""Ctrl-C and SIGTERM while a block runs: one handler of genesis-par's for both, set only in the
main thread (Python lets no other thread set one), the previous handlers put back after."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

Handler = Callable[[int, FrameType | None], object]


@contextmanager
def handled_by(handler: Handler) -> Iterator[None]:
    """SIGINT and SIGTERM go to handler while the block runs (outside the main thread, they
    keep what the main thread set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)
