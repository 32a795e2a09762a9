"""A round of the batched queue's checks: prefixes of the queue checked at once, a thread and a
check worktree each. A failure makes the checks of longer prefixes moot, a pass those of shorter
ones: they are stopped. Ctrl-C or SIGTERM (the queue's cancel) stops them all."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import NamedTuple

from genesis_par.land.checks import CheckRun

TICK_S = 0.2  # how often a round looks at Ctrl-C while its checks run


class Prefix(NamedTuple):
    """One check of a round: the first `cut` tasks of a segment, landed as commit."""

    cut: int
    commit: str
    members: list[str]


def check_at_once(
    prefixes: Sequence[Prefix],
    check: Callable[[int, Prefix, threading.Event], CheckRun],
    cancel: threading.Event,
    started: Callable[[int, Prefix], None],
    finished: Callable[[CheckRun], None],
) -> dict[int, CheckRun]:
    """Run check(slot, prefix, its own cancel) for each prefix at once; each run by its cut.
    started is told before a check starts, finished as soon as one ends."""
    cancels = {p.cut: threading.Event() for p in prefixes}
    runs: dict[int, CheckRun] = {}
    with ThreadPoolExecutor(max_workers=len(prefixes), thread_name_prefix="merge-check") as pool:
        futures: dict[Future[CheckRun], int] = {}
        try:
            for slot, prefix in enumerate(prefixes):
                started(slot, prefix)
                futures[pool.submit(check, slot, prefix, cancels[prefix.cut])] = prefix.cut
            running = set(futures)
            while running:
                done, running = wait(running, timeout=TICK_S, return_when=FIRST_COMPLETED)
                if cancel.is_set():  # Ctrl-C or SIGTERM: every check stops
                    for each in cancels.values():
                        each.set()
                for future in done:
                    cut = futures[future]
                    runs[cut] = future.result()
                    finished(runs[cut])
                    _moot(cancels, cut, runs[cut])
        except BaseException:
            for each in cancels.values():
                each.set()
            raise
    return runs


def _moot(cancels: Mapping[int, threading.Event], cut: int, run: CheckRun) -> None:
    """A failure ahead, or a longer pass, makes the other checks moot: stop them."""
    for other, cancel in cancels.items():
        if run.passed is not None and (other < cut) == bool(run.passed):
            cancel.set()
