"""A plan with every default and inherited value filled in, as TOML: what will really run
(`genesis-par validate --resolved`). Reading the output back gives the same plan."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from genesis_par.plan.model import Agent, Command, Plan, Priority, Task
from genesis_par.plan.presets import find_agent

# fields that are facts about the file, not settings
_NOT_SETTINGS = {"index", "path", "text"}


def resolved(plan: Plan) -> str:
    """The plan as TOML, with defaults and [defaults] written out on every table and task, and
    each agent a task uses (built-in presets included) as an [agents.NAME] table."""
    document: dict[str, Any] = {
        "version": plan.version,
        "run": _table(plan.run),
        "merge": _table(plan.merge),
    }
    agents = _agents_used(plan)
    if agents:
        document["agents"] = {a.name: {"command": _value(a.command)} for a in agents}
    document["tasks"] = [_task(t) for t in plan.tasks]
    return tomli_w.dumps(document, multiline_strings=True)


def _agents_used(plan: Plan) -> list[Agent]:
    names = dict.fromkeys([*plan.agents, *(t.agent for t in plan.tasks if t.agent)])
    return [agent for name in names if (agent := find_agent(name, plan.agents)) is not None]


def _task(task: Task) -> dict[str, Any]:
    table = _table(task)
    if task.agent is not None:
        table.pop("command", None)  # the agent's command, written under [agents]
    if task.prompt_file is not None:
        table.pop("prompt", None)  # read again from the file, as at run time
    return table


def _table(settings: Any) -> dict[str, Any]:
    """A settings dataclass as a plan table; None (unset) values are left out."""
    table: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if f.name == "batch" and value is None:  # [merge] batch: None is "auto"
            value = "auto"
        if f.name in _NOT_SETTINGS or value is None:
            continue
        if f.name in ("env", "resources"):  # pairs, written as the table they were read from
            table[f.name] = dict(value)
            continue
        if f.name == "timeout_s":
            table["timeout"] = _duration(value)
            continue
        if f.name == "memory_bytes":
            table["memory"] = _size(value)
            continue
        table[f.name] = _value(value)
    return table


def _duration(seconds: float) -> str | float:
    """`1h30m`, `90s`: as a person writes it, when it is whole seconds."""
    if seconds != int(seconds):
        return seconds
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return "".join(parts)


def _size(size: int) -> str | int:
    """`512MiB`, `4GiB`: as a person writes it, when it is a whole number of a unit."""
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return size


def _value(value: Any) -> Any:
    if isinstance(value, Command):
        return value.argv[0] if value.shell else list(value.argv)
    if isinstance(value, Priority):
        return value.label
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _value(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_value(v) for v in value]
    return value
