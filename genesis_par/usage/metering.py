"""One running attempt's usage and CPU, updated at each of proc.run's samples."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from genesis_par.model import Failure
from genesis_par.usage.formats import Parser
from genesis_par.usage.meter import Meter
from genesis_par.usage.model import Usage


class Metering:
    """The sample callback of one attempt: reads its usage, measures its CPU, and says
    "budget" when the task's spend passes its max_cost_usd (proc.run then stops the tree)."""

    def __init__(
        self,
        log: Path,
        parser: Parser | None,
        usage_file: Path,
        *,
        max_cost_usd: float | None = None,
        spent_elsewhere: Callable[[], float] = lambda: 0.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.meter = Meter.at_end_of(log, parser, usage_file)
        self.max_cost_usd, self.spent_elsewhere, self.now = max_cost_usd, spent_elsewhere, now
        self.live = Usage()
        self.cpu_s = 0.0
        self.cpu_percent = 0.0  # over the last sample interval; 100 is one core
        self.rss_bytes = 0
        self._mark: tuple[float, float] | None = None

    def sample(self, rss: int, cpu_s: float) -> Failure | None:
        """proc.run's on_sample."""
        now = self.now()
        if self._mark is not None and now > self._mark[0]:
            self.cpu_percent = max(cpu_s - self._mark[1], 0.0) / (now - self._mark[0]) * 100
        self._mark = (now, cpu_s)
        self.cpu_s, self.rss_bytes = max(self.cpu_s, cpu_s), rss
        self.live = self.meter.poll()
        return Failure.BUDGET if self.over_budget() else None

    def over_budget(self) -> bool:
        """Whether the task (this attempt and the rest of it) spent more than its max_cost_usd."""
        if self.max_cost_usd is None:
            return False
        return self.spent_elsewhere() + (self.live.cost_usd or 0.0) > self.max_cost_usd

    def finish(self) -> Usage:
        """After the agent exited: all it spent."""
        self.live = self.meter.finish()
        self.cpu_percent = 0.0
        return self.live

    @property
    def notes(self) -> list[str]:
        """What could not be read (never a failure)."""
        return self.meter.notes
