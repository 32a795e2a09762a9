"""What an attempt may use, and the watch over its process tree: samples of the tree's memory and
cpu read from /proc (backing off while nothing moves), and which limit a sample broke."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NamedTuple

from genesis_par import proc_tree
from genesis_par.model import Failure

SAMPLE_S = 0.2  # memory and cpu are sampled five times a second
IDLE_SAMPLE_S = 1.6  # ... backing off to this while the tree does nothing (issue 19)
CPU_WINDOW_S = 3.0
MEMORY_GRACE_S = 0.5


@dataclass(frozen=True, slots=True)
class Limits:
    """What one attempt may use."""

    timeout_s: float | None = None
    memory_bytes: int | None = None  # resident memory of the whole tree
    cpu: float | None = None  # cores, averaged over CPU_WINDOW_S
    grace_s: float = 5.0  # per stop step


_PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = proc_tree.TICKS


class Sample(NamedTuple):
    rss: int  # resident bytes of the agent's tree
    cpu_s: float  # cpu seconds of its live members
    shape: tuple[int, ...]  # members, resident pages and cpu ticks: unchanged while idle


def sample(root: int) -> Sample:
    """The agent tree's memory and cpu (the shim itself left out), read from /proc along the
    kernel's children lists: the cost is the tree's, not the machine's (psutil's children()
    reads every process on the machine, for each tree, five times a second)."""
    tree = proc_tree.members(root)
    tree.pop(root, None)
    pages = sum(p.rss_pages for p in tree.values())
    ticks = sum(p.cpu_ticks for p in tree.values())
    return Sample(pages * _PAGE, ticks / TICKS, (*sorted(tree), pages, ticks))


def next_every(every: float, idle: bool, limits: Limits) -> float:
    """How long until the next sample: twice as long each time nothing moved in the tree (no
    process started or ended, no page or tick used), up to IDLE_SAMPLE_S; back to SAMPLE_S the
    moment something did. A memory limit keeps SAMPLE_S: a tree can grow fast from idle."""
    if idle and limits.memory_bytes is None:
        return min(every * 2, IDLE_SAMPLE_S)
    return SAMPLE_S


class Watch:
    """Checks the limits against samples; says which one was broken."""

    def __init__(self, limits: Limits, started: float) -> None:
        self.limits, self.started = limits, started
        self.peak = 0
        self.cpu_marks: list[tuple[float, float]] = []

    def overdue(self, now: float) -> Failure | None:
        """TIMEOUT if the attempt ran out of time (checked between samples too)."""
        if self.limits.timeout_s is not None and now - self.started > self.limits.timeout_s:
            return Failure.TIMEOUT
        return None

    def broken(self, now: float, rss: int, cpu_s: float) -> Failure | None:
        self.peak = max(self.peak, rss)
        limits = self.limits
        if limits.timeout_s is not None and now - self.started > limits.timeout_s:
            return Failure.TIMEOUT
        if limits.memory_bytes is not None and rss > limits.memory_bytes:
            return Failure.MEMORY
        if limits.cpu is not None:
            self.cpu_marks.append((now, cpu_s))
            while self.cpu_marks and now - self.cpu_marks[0][0] > CPU_WINDOW_S:
                oldest = self.cpu_marks.pop(0)
            else:
                oldest = self.cpu_marks[0]
            span = now - oldest[0]
            if span >= CPU_WINDOW_S * 0.9 and (cpu_s - oldest[1]) / span > limits.cpu:
                return Failure.CPU
        return None
