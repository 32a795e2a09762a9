"""Usage of one running attempt: its log read as it grows, and $GENESIS_USAGE_FILE.

Both are written by the agent, so both are read defensively: only regular files, a bounded
amount at a time, over-long lines skipped. Nothing here can fail the task: what cannot be read
becomes a note.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from genesis_par.usage.formats import Parser
from genesis_par.usage.model import Usage

CHUNK = 1 << 20  # read at most this much of the log per poll
MAX_LINE = 1 << 20  # a longer line is not parsed (and said so)
MAX_USAGE_FILE = 64 * 1024
USAGE_FILE_KEYS = ("input_tokens", "output_tokens", "cost_usd", "turns", "model")


def _read_regular(path: Path, offset: int, limit: int) -> bytes | None:
    """Up to limit bytes from offset; None when the path is not a regular file (a FIFO an
    agent put there would block a plain open)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        handle.seek(offset)
        return handle.read(limit)


class Meter:
    """Feeds a parser the attempt's new log lines at each poll; reads the usage file."""

    def __init__(self, log: Path, parser: Parser | None, usage_file: Path, offset: int = 0) -> None:
        self.log, self.parser, self.usage_file = log, parser, usage_file
        self.offset = offset  # the attempt's output starts here (setup may have written before)
        self.partial = b""
        self.skipping = False  # inside a line over MAX_LINE
        self.notes: list[str] = []

    @classmethod
    def at_end_of(cls, log: Path, parser: Parser | None, usage_file: Path) -> Meter:
        """A meter for output appended to log from now on."""
        with contextlib.suppress(OSError):  # an earlier run's file is not this attempt's
            usage_file.unlink(missing_ok=True)
        size = 0
        with contextlib.suppress(OSError):
            size = log.stat().st_size
        return cls(log, parser, usage_file, size)

    def poll(self) -> Usage:
        """Read what the log gained since the last poll; the usage so far."""
        if self.parser is not None:
            data = _read_regular(self.log, self.offset, CHUNK)
            if data:
                self.offset += len(data)
                self._lines(data)
        return self._current()

    def _lines(self, data: bytes) -> None:
        assert self.parser is not None
        *lines, self.partial = (self.partial + data).split(b"\n")
        for raw in lines:
            if self.skipping or len(raw) > MAX_LINE:  # (the end of) an over-long line
                self.skipping = False
                self._note(f"a line of the agent's output over {MAX_LINE:,} bytes was not read")
                continue
            self.parser.feed(raw.decode("utf-8", errors="replace").rstrip("\r"))
        if len(self.partial) > MAX_LINE:
            self.partial, self.skipping = b"", True

    def finish(self) -> Usage:
        """After the agent exited: the rest of its log, and the usage file; what it spent."""
        for _ in range(64):  # at most 64 MiB more; a bigger burst at the end is left unread
            before = self.offset
            self.poll()
            if self.offset == before:
                break
        if self.parser is not None and self.partial and not self.skipping:
            self.parser.feed(self.partial.decode("utf-8", errors="replace"))
            self.partial = b""
        usage = self._current()
        if self.parser is not None and not usage.known and not self.usage_file.exists():
            self._note(f"no usage found in the agent's output: expected {self.parser.expected}")
        return usage

    def _current(self) -> Usage:
        parsed = self.parser.usage() if self.parser is not None else Usage()
        declared = self._usage_file()
        if declared is None:
            return parsed
        return Usage(
            int(declared.get("input_tokens", parsed.input_tokens)),
            int(declared.get("output_tokens", parsed.output_tokens)),
            declared.get("cost_usd", parsed.cost_usd),
            int(declared.get("turns", parsed.turns)),
            declared.get("model", parsed.model),
        )

    def _usage_file(self) -> dict[str, Any] | None:
        """The fields $GENESIS_USAGE_FILE sets (each one it has overrides the parsed value)."""
        data = _read_regular(self.usage_file, 0, MAX_USAGE_FILE + 1)
        if data is None:
            return None
        where = f"$GENESIS_USAGE_FILE ({self.usage_file})"
        if len(data) > MAX_USAGE_FILE:
            self._note(f"{where} is over {MAX_USAGE_FILE:,} bytes: not read")
            return None
        try:
            raw = json.loads(data)
        except RecursionError:
            self._note(f"{where} is nested too deeply: not read")
            return None
        except ValueError:
            return None  # being written, or not JSON: finish() says so if it stays that way
        if not isinstance(raw, dict):
            self._note(f"{where} is not a JSON object: not read")
            return None
        return _checked(raw, where, self._note)

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def _checked(raw: dict[str, Any], where: str, note: Any) -> dict[str, Any]:
    """The well-typed fields; each bad one is left out with a note."""
    out: dict[str, Any] = {}
    for key in USAGE_FILE_KEYS:
        if key not in raw:
            continue
        value = raw[key]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if key == "model" and (value is None or isinstance(value, str)):
            out[key] = value[:200] if value else None
        elif key == "cost_usd" and number and math.isfinite(value) and value >= 0:
            out[key] = float(value)
        elif key not in ("model", "cost_usd") and isinstance(value, int) and number and value >= 0:
            out[key] = value
        else:
            note(f"{where}: {key} must be " + _wanted(key) + f", not {json.dumps(value)[:40]}")
    return out


def _wanted(key: str) -> str:
    if key == "model":
        return "a string"
    if key == "cost_usd":
        return "a number of US dollars, not negative"
    return "a whole number, not negative"
