"""One parser per agent output format, fed the agent's output a line at a time.

The formats, as each agent documents them (samples in tests/usage/test_formats.py):
- claude `-p --output-format stream-json --verbose`: one JSON object a line; `assistant`
  events carry each step's `message.usage` (a step's events share `message.id`), the final
  `result` event carries `total_cost_usd`, `usage` and `num_turns` for the whole query.
- codex `exec --json`: JSONL events; each `turn.completed` carries that turn's `usage`
  (`input_tokens`, `cached_input_tokens` within them, `output_tokens`). No cost, no model.
- gemini `--output-format json`: one (pretty-printed) object at the end whose `stats.models`
  holds per-model `tokens` (`prompt`, `candidates`, `thoughts`) and `api.totalRequests`;
  `stream-json` (`init` with `model`, `result` with `stats`) is read too.
- aider: after each reply, `Tokens: 2.6k sent, 81 received.` (cache counts in between) and,
  when the model has a price, `Cost: $0.0021 message, $0.0051 session.`
A line a parser does not know is skipped: agents add events; usage is never a reason to fail.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Protocol

from genesis_par.usage.model import Usage


class Parser(Protocol):
    """Reads one agent's output format."""

    expected: str  # what the output should hold, for the note when nothing was found

    def feed(self, line: str) -> None:
        """One line of output (without its newline)."""

    def usage(self) -> Usage:
        """What the output said so far (Usage() when nothing)."""


def _json_object(line: str) -> dict[str, Any] | None:
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: an agent printed `[[[[...`
        return None
    return value if isinstance(value, dict) else None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0
    return max(int(value), 0)


def _cost(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return max(float(value), 0.0)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) and value else None


class Claude:
    """claude -p --output-format stream-json --verbose."""

    expected = "claude's stream-json events (--output-format stream-json --verbose)"

    def __init__(self) -> None:
        self.done = Usage()  # the `result` events so far: each query's own totals
        self.steps: dict[str, tuple[int, int]] = {}  # message id -> tokens, until a result
        self.model: str | None = None

    def feed(self, line: str) -> None:
        """Steps add up live; a `result` event replaces them with the query's totals."""
        if '"usage"' not in line and '"init"' not in line:  # tool results: the bulk, skipped
            return
        event = _json_object(line)
        if event is None:
            return
        kind = event.get("type")
        if kind == "system" and event.get("subtype") == "init":
            self.model = _str(event.get("model")) or self.model
        elif kind == "assistant" and isinstance(event.get("message"), dict):
            self._step(event["message"])
        elif kind == "result":
            self._result(event)

    def _step(self, message: dict[str, Any]) -> None:
        self.model = self.model or _str(message.get("model"))
        usage = message.get("usage")
        if isinstance(usage, dict):  # one id per step, repeated on each of its content blocks
            key = str(message.get("id", len(self.steps)))
            self.steps[key] = (_input_of(usage), _int(usage.get("output_tokens")))

    def _result(self, event: dict[str, Any]) -> None:
        usage = _dict(event.get("usage"))
        models = event.get("modelUsage")
        model = self.model or (next(iter(models), None) if isinstance(models, dict) else None)
        self.done = self.done + Usage(
            _input_of(usage),
            _int(usage.get("output_tokens")),
            _cost(event.get("total_cost_usd")),
            _int(event.get("num_turns")),
            _str(model),
        )
        self.steps.clear()

    def usage(self) -> Usage:
        """The finished queries plus the steps of the one under way."""
        live = Usage(
            sum(i for i, _ in self.steps.values()),
            sum(o for _, o in self.steps.values()),
            None,
            len(self.steps),
            self.model,
        )
        return self.done + live if self.steps else self.done + Usage(model=self.model)


def _input_of(usage: dict[str, Any]) -> int:
    """Every input token: uncached, written to and read from the prompt cache."""
    keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    return sum(_int(usage.get(k)) for k in keys)


class Codex:
    """codex exec --json."""

    expected = "codex's JSONL events with turn.completed usage (codex exec --json)"

    def __init__(self) -> None:
        self.sum = Usage()

    def feed(self, line: str) -> None:
        """Each completed turn adds its tokens (cached input is part of input_tokens)."""
        if "turn.completed" not in line:  # the only event with usage: the others are not parsed
            return
        event = _json_object(line)
        if event is None or event.get("type") != "turn.completed":
            return
        usage = event.get("usage")
        if isinstance(usage, dict):
            turn = Usage(_int(usage.get("input_tokens")), _int(usage.get("output_tokens")), turns=1)
            self.sum = self.sum + turn

    def usage(self) -> Usage:
        """The turns completed so far."""
        return self.sum


MAX_OBJECT = 16 << 20  # characters of a pretty-printed object collected, at most


class Gemini:
    """gemini --output-format json (one object at the end), or stream-json."""

    expected = "gemini's JSON output with stats (--output-format json)"

    def __init__(self) -> None:
        self.found = Usage()
        self.model: str | None = None
        self.pending: list[str] | None = None  # lines of a pretty-printed object being read
        self.pending_bytes = 0

    def feed(self, line: str) -> None:
        """Collect from a line `{` until the object parses; a stream-json line parses alone."""
        if self.pending is None:
            event = _json_object(line)
            if event is not None:
                self._event(event)
            elif line.rstrip() == "{":
                self.pending, self.pending_bytes = [line], len(line)
            return
        self.pending.append(line)
        self.pending_bytes += len(line)
        if line.rstrip() == "}":  # the object's closing brace is alone at column 0
            text, self.pending = "\n".join(self.pending), None
            whole = _json_object(text)
            if whole is not None:
                self._event(whole)
        elif self.pending_bytes > MAX_OBJECT:  # not the stats object: stop collecting
            self.pending = None

    def _event(self, event: dict[str, Any]) -> None:
        stats = event.get("stats")
        if event.get("type") == "init":
            self.model = _str(event.get("model"))
        elif event.get("type") == "result" and isinstance(stats, dict):
            self.found = self.found + Usage(
                _int(stats.get("input_tokens")), _int(stats.get("output_tokens")), model=self.model
            )
        elif isinstance(stats, dict) and isinstance(stats.get("models"), dict):
            self.found = self.found + _gemini_models(stats["models"])

    def usage(self) -> Usage:
        """What the output's stats said."""
        return self.found


def _gemini_models(models: dict[str, Any]) -> Usage:
    """stats.models: input is `prompt`; output is `candidates` plus `thoughts` (both billed)."""
    out = Usage()
    for name, entry in models.items():
        if not isinstance(entry, dict):
            continue
        tokens = _dict(entry.get("tokens"))
        api = _dict(entry.get("api"))
        out = out + Usage(
            _int(tokens.get("prompt")),
            _int(tokens.get("candidates")) + _int(tokens.get("thoughts")),
            turns=_int(api.get("totalRequests")),
            model=_str(name),
        )
    return out


_AIDER_TOKENS = re.compile(
    r"Tokens: (?P<sent>[\d.,]+[kKmM]?) sent\b.*?(?P<received>[\d.,]+[kKmM]?) received\."
)
_AIDER_COST = re.compile(r"Cost: \$(?P<message>[\d.,]+) message, \$(?P<session>[\d.,]+) session")
_AIDER_MODEL = re.compile(r"^(?:Main )?[Mm]odel: (?P<model>\S+)")


def _aider_count(text: str) -> int:
    """aider's format_tokens: 999, 2.6k, 12k (older versions: 12,345)."""
    text = text.replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    try:
        return round(float(text.rstrip("kKmM")) * scale)
    except ValueError:
        return 0


class Aider:
    """aider's usage lines (printed after each reply, with --no-pretty as plain text)."""

    expected = 'aider\'s "Tokens: ... sent, ... received." lines'

    def __init__(self) -> None:
        self.sent = self.received = self.replies = 0
        self.session_cost: float | None = None
        self.model: str | None = None

    def feed(self, line: str) -> None:
        """Tokens are per reply (summed); the cost line's `session` figure is the running total."""
        if self.model is None and (found := _AIDER_MODEL.match(line)):
            self.model = found["model"]
        if tokens := _AIDER_TOKENS.search(line):
            self.sent += _aider_count(tokens["sent"])
            self.received += _aider_count(tokens["received"])
            self.replies += 1
        if cost := _AIDER_COST.search(line):
            self.session_cost = _cost(float(cost["session"].replace(",", "")))

    def usage(self) -> Usage:
        """What the lines said so far."""
        if not self.replies and self.session_cost is None:
            return Usage(model=self.model) if self.model else Usage()
        return Usage(self.sent, self.received, self.session_cost, self.replies, self.model)


PARSERS: dict[str, type[Claude | Codex | Gemini | Aider]] = {
    "claude": Claude,
    "codex": Codex,
    "gemini": Gemini,
    "aider": Aider,
}


def parser_for(agent: str | None, argv0: str | None) -> Parser | None:
    """The parser of an agent's output: by the task's agent name (a preset, or a plan's own
    table named like one), else by the program its command starts; None for anything else."""
    for name in (agent, (argv0 or "").rsplit("/", 1)[-1]):
        if name in PARSERS:
            return PARSERS[name]()
    return None
