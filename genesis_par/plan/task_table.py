"""A [[tasks]] entry of a plan (with [defaults] under it) -> a Task, each rule one PlanError
line naming the task and the key."""

from __future__ import annotations

import math
import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genesis_par.plan.command_value import parse_command
from genesis_par.plan.inputs import NotReadable, read_input
from genesis_par.plan.model import MAX_PROMPT_ARG, Agent, Command, Priority, Task
from genesis_par.plan.on_conflict import on_conflict
from genesis_par.plan.presets import PRESETS, find_agent
from genesis_par.plan.values import (
    Where,
    check_branch_component,
    check_env,
    check_keys,
    check_no_nul,
    did_you_mean,
    dollars,
    enum_value,
    parse_duration,
    parse_size,
    strings,
    typed,
)

TASK_KEYS = frozenset(
    [
        "id",
        "prompt",
        "prompt_file",
        "agent",
        "command",
        "depends_on",
        "priority",
        "cost",
        "paths",
        "locks",
        "timeout",
        "memory",
        "cpu",
        "retries",
        "check",
        "env",
        "best_of",
        "resources",
        "on_conflict",
        "max_cost_usd",
    ]
)


DEFAULT_KEYS = TASK_KEYS - {"id", "depends_on"}


def parse_task(
    raw: Any, index: int, defaults: Mapping[str, Any], agents: Mapping[str, Agent], path: Path
) -> Task:
    if not isinstance(raw, dict):
        raise Where(path).error(f"tasks entry {index + 1} must be a table ([[tasks]])")
    if "id" not in raw:
        raise Where(path).error(f'tasks entry {index + 1} has no id: add id = "..."')
    task_id = typed(raw["id"], str, Where(path), f"tasks entry {index + 1} id", "a string")
    where = Where(path, task_id)
    check_branch_component(task_id, f'task id "{task_id}"', path)
    check_keys(raw, TASK_KEYS, where, "the task")
    merged = {**defaults, **raw}
    where = Where(path, task_id, frozenset(defaults) - frozenset(raw))
    if "agent" in raw and "command" in raw:
        raise where.error("has both agent and command: a task runs an agent or a command")
    if "agent" not in merged and "command" not in merged:
        raise where.error('has neither agent nor command: add agent = "NAME" or command = "..."')
    if "command" in raw or "agent" not in merged:
        command = parse_command(merged["command"], where, "command")
        agent_name = None
    else:
        agent_name = typed(merged["agent"], str, where, "agent", "a string")
        agent = find_agent(agent_name, agents)
        if agent is None:
            hint = did_you_mean(agent_name, [*agents, *PRESETS])
            raise where.error(
                f'agent "{agent_name}" is not defined{hint}: add [agents.{agent_name}]'
            )
        command = agent.command
    prompt, prompt_file = _prompt(merged, where, path.parent)
    if prompt is not None and agent_name is None:
        raise where.error("has a prompt but runs a command: a prompt needs an agent to receive it")
    _check_prompt_fits(prompt, command, where)
    best_of = typed(merged.get("best_of", 1), int, where, "best_of", "an integer")
    if best_of < 1:
        raise where.error(f"best_of must be at least 1, not {best_of}")
    retries = typed(merged.get("retries", 0), int, where, "retries", "an integer")
    if retries < 0:
        raise where.error(f"retries must not be negative, not {retries}")
    depends = strings(raw.get("depends_on", []), where, "depends_on")
    return Task(
        id=task_id,
        command=command,
        index=index,
        agent=agent_name,
        prompt=prompt,
        prompt_file=prompt_file,
        depends_on=tuple(dict.fromkeys(depends)),
        priority=enum_value(merged.get("priority", "normal"), Priority, where, "priority"),
        cost=_number(merged, "cost", where, 1.0),
        paths=_scopes(merged.get("paths", []), where),
        locks=strings(merged.get("locks", []), where, "locks"),
        timeout_s=parse_duration(merged["timeout"], where, "timeout")
        if "timeout" in merged
        else None,
        memory_bytes=parse_size(merged["memory"], where, "memory") if "memory" in merged else None,
        cpu=_positive_cpu(merged, where),
        retries=retries,
        best_of=best_of,
        check=parse_command(merged["check"], where, "check") if "check" in merged else None,
        env=_env(merged.get("env", {}), where),
        resources=_resources(merged.get("resources", {}), where),
        on_conflict=on_conflict(merged, where, "on_conflict"),
        max_cost_usd=dollars(merged, "max_cost_usd", where, "max_cost_usd"),
    )


def _prompt(raw: Mapping[str, Any], where: Where, folder: Path) -> tuple[str | None, Path | None]:
    if "prompt" in raw and "prompt_file" in raw:
        raise where.error("has both prompt and prompt_file: keep one")
    if "prompt" in raw:
        prompt = typed(raw["prompt"], str, where, "prompt", "a string")
        check_no_nul(prompt, where, "prompt")
        return prompt, None
    if "prompt_file" not in raw:
        return None, None
    name = typed(raw["prompt_file"], str, where, "prompt_file", "a string")
    check_no_nul(name, where, "prompt_file")
    file = (folder / name).resolve()
    try:
        text = read_input(file).decode("utf-8")
    except UnicodeDecodeError:
        raise where.error(f'prompt_file "{name}" is not UTF-8 text ({file})') from None
    except NotReadable as e:
        raise where.error(f'prompt_file "{name}" {e} ({file})') from None
    except OSError:
        raise where.error(f'prompt_file "{name}" not found (looked for {file})') from None
    check_no_nul(text, where, f'prompt_file "{name}"')
    return text, file


def _env(raw: Any, where: Where) -> tuple[tuple[str, str], ...]:
    table = typed(raw, dict, where, "env", "a table of strings")
    check_env(table, where)
    return tuple(sorted(table.items()))


def _number(raw: Mapping[str, Any], key: str, where: Where, default: float) -> float:
    value = typed(raw.get(key, default), (int, float), where, key, "a number")
    if not math.isfinite(value) or value < 0:
        raise where.error(f"{key} must be a finite number, not negative, not {value}")
    return float(value)


def _check_prompt_fits(prompt: str | None, command: Command, where: Where) -> None:
    """A prompt passed as {prompt} must fit in one command-line argument."""
    size = len((prompt or "").encode())
    uses_prompt = any("{prompt}" in part for part in command.argv)
    if uses_prompt and size > MAX_PROMPT_ARG:
        raise where.error(
            f"its prompt is {size:,} bytes, too long for {{prompt}} on a command line (at most "
            f"{MAX_PROMPT_ARG:,}): give the agent {{prompt_file}} instead"
        )


def _scopes(raw: Any, where: Where) -> tuple[str, ...]:
    """`paths` globs, relative to the repository root: `./src/**` is `src/**`."""
    globs = []
    for glob in strings(raw, where, "paths"):
        clean = posixpath.normpath(glob) if glob else ""
        if not clean or clean.startswith(("/", "../")) or clean == "..":
            raise where.error(f'paths "{glob}" must be a glob inside the repository, like "src/**"')
        globs.append("**" if clean == "." else clean)
    return tuple(globs)


def _resources(raw: Any, where: Where) -> tuple[tuple[str, float], ...]:
    """`resources = { gpu = 1, ... }`: Ray custom resources, each a non-negative amount."""
    table = typed(raw, dict, where, "resources", "a table of names and amounts")
    found = []
    for name, amount in table.items():
        if isinstance(amount, bool) or not isinstance(amount, (int, float)):
            raise where.error(f"resources.{name} must be a number, not {amount!r}")
        if not math.isfinite(amount) or amount < 0:
            raise where.error(f"resources.{name} must be a non-negative number, not {amount}")
        found.append((name, float(amount)))
    return tuple(sorted(found))


def _positive_cpu(raw: Mapping[str, Any], where: Where) -> float | None:
    if "cpu" not in raw:
        return None
    cpu = typed(raw["cpu"], (int, float), where, "cpu", "a number of cores")
    if not math.isfinite(cpu) or cpu <= 0:
        raise where.error(f"cpu must be a positive number of cores, not {cpu}")
    return float(cpu)
