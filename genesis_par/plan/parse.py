"""TOML -> the plan model: the file read, its top-level keys, [agents], and the rules across
tables (dependencies, the merge target, the resolver); [run] and [merge] are plan/settings.py,
a task plan/task_table.py. Each failure one PlanError line naming the file, the task and the key."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from genesis_par.errors import PlanError
from genesis_par.plan import graph
from genesis_par.plan.command_value import parse_command
from genesis_par.plan.inputs import NotReadable, read_input
from genesis_par.plan.model import (
    DEFAULT_INTO,
    SUPPORTED_VERSIONS,
    TASK_BRANCH,
    Agent,
    Plan,
    Task,
    target_clash,
)
from genesis_par.plan.on_conflict import OnConflict
from genesis_par.plan.settings import merge_settings, run_settings
from genesis_par.plan.task_table import DEFAULT_KEYS, parse_task
from genesis_par.plan.values import Where, check_keys, did_you_mean, typed

TOP_KEYS = frozenset({"version", "run", "defaults", "agents", "merge", "tasks"})


AGENT_KEYS = frozenset({"command"})


def _read(path: Path) -> tuple[str, dict[str, Any]]:
    where = Where(path)
    try:
        text = read_input(path).decode("utf-8")
    except FileNotFoundError:
        raise PlanError(f"{path}: no such plan file (create one with `genesis-par init`)") from None
    except NotReadable as e:
        raise PlanError(f"{path}: the plan {e}: name a plan file (TOML text)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PlanError(f"{path}: cannot read the plan: {e}") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise where.error(f"invalid TOML: {e}") from None


def _check_resolver(plan: Plan, path: Path) -> None:
    """on_conflict = "agent" needs a resolver to run."""
    if plan.merge.resolver is not None:
        return
    if plan.merge.on_conflict is OnConflict.AGENT:
        raise Where(path).error(
            '[merge] on_conflict = "agent" needs [merge] resolver: an agent name (like "claude") '
            "or a command"
        )
    task = next((t for t in plan.tasks if t.on_conflict is OnConflict.AGENT), None)
    if task is not None:
        raise Where(path, task.id).error(
            'on_conflict = "agent" needs [merge] resolver: an agent name (like "claude") or a '
            "command"
        )


def _check_target(plan: Plan, path: Path) -> None:
    """[merge] into, for the plan's own run name, is a branch of its own."""
    into = plan.merge.into.replace("{run}", plan.run.name)
    clash = target_clash(into, plan.run.name, (t.id for t in plan.tasks))
    if clash is None:
        return
    task, why = clash
    if plan.merge.into == DEFAULT_INTO:
        raise Where(path, task).error(
            f"its branch {TASK_BRANCH.format(run=plan.run.name, task=task)} is the merge "
            "target ([merge] into): rename the task, or set [merge] into"
        )
    raise Where(path).error(
        f'[merge] into "{into}" {why}: name another branch, like "integration/{{run}}"'
    )


def _agents(raw: Any, path: Path) -> dict[str, Agent]:
    where = Where(path)
    table = typed(raw, dict, where, "[agents]", "a table of agents")
    agents = {}
    for name, body in table.items():
        what = f"[agents.{name}]"
        typed(body, dict, where, what, "a table")
        check_keys(body, AGENT_KEYS, where, what)
        if "command" not in body:
            raise where.error(f'{what} has no command: add command = ["my-agent", "{{prompt}}"]')
        agents[name] = Agent(name, parse_command(body["command"], where, f"{what} command"))
    return agents


def cycle_text(edges: Mapping[str, Iterable[str]]) -> str | None:
    """A dependency cycle as text."""
    cycle = graph.find_cycle(edges)
    return graph.path_text(cycle) if cycle else None


def _check_graph(tasks: Sequence[Task], path: Path) -> None:
    ids = {t.id for t in tasks}
    for task in tasks:
        where = Where(path, task.id)
        for dep in task.depends_on:
            if dep == task.id:
                raise where.error("depends_on names the task itself")
            if dep not in ids:
                raise where.error(f'depends_on names unknown task "{dep}"{did_you_mean(dep, ids)}')
    cycle = cycle_text({t.id: t.depends_on for t in tasks})
    if cycle:
        raise Where(path).error(f"dependency cycle: {cycle}")


def load(path: Path) -> Plan:
    """Read and validate a plan; raises PlanError naming the file, the task and the key."""
    text, raw = _read(path)
    return _validate(text, raw, path)


def loads(text: str, path: Path) -> Plan:
    """Validate plan text recorded earlier (prompt files are read again, beside path)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise Where(path).error(f"invalid TOML: {e}") from None
    return _validate(text, raw, path)


def _validate(text: str, raw: dict[str, Any], path: Path) -> Plan:
    where = Where(path)
    check_keys(raw, TOP_KEYS, where, "the plan")
    if "version" not in raw:
        raise where.error("missing version: add `version = 1` at the top")
    if raw["version"] not in SUPPORTED_VERSIONS or isinstance(raw["version"], bool):
        raise where.error(
            f"unsupported version {raw['version']!r}: this genesis-par reads version 1"
        )
    defaults = typed(raw.get("defaults", {}), dict, where, "[defaults]", "a table")
    check_keys(defaults, DEFAULT_KEYS, where, "[defaults]")
    agents = _agents(raw.get("agents", {}), path)
    entries = typed(raw.get("tasks", []), list, where, "tasks", "an array of [[tasks]] tables")
    if not entries:
        raise where.error("has no tasks: add at least one [[tasks]] with an id and a command")
    tasks = [parse_task(entry, i, defaults, agents, path) for i, entry in enumerate(entries)]
    seen: set[str] = set()
    for task in tasks:
        if task.id in seen:
            raise Where(path, task.id).error("duplicate task id: each id must be unique")
        seen.add(task.id)
    _check_graph(tasks, path)
    plan = Plan(
        path=path.resolve(),
        text=text,
        run=run_settings(raw.get("run", {}), path),
        merge=merge_settings(raw.get("merge", {}), path, agents),
        tasks=tuple(tasks),
        agents=agents,
        version=raw["version"],
    )
    _check_target(plan, path)
    _check_resolver(plan, path)
    return plan
