"""TOML -> the plan model; every validation rule lives here, each failure one PlanError line
naming the file, the task and the key."""

from __future__ import annotations

import math
import posixpath
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from genesis_par.errors import PlanError
from genesis_par.plan import graph
from genesis_par.plan.inputs import NotReadable, read_input
from genesis_par.plan.model import (
    DEFAULT_INTO,
    MAX_PROMPT_ARG,
    SUPPORTED_VERSIONS,
    TASK_BRANCH,
    TEMPLATE_VARS,
    Agent,
    Command,
    Isolation,
    MergeMethod,
    MergeSettings,
    Plan,
    Priority,
    RunSettings,
    Strategy,
    Task,
    target_clash,
)
from genesis_par.plan.on_conflict import (
    RESOLUTION_KEYS,
    OnConflict,
    on_conflict,
    rerun_limit,
    resolver,
)
from genesis_par.plan.presets import PRESETS, find_agent
from genesis_par.plan.templates import unexpandable
from genesis_par.plan.values import (
    Where,
    check_branch_component,
    check_env,
    check_keys,
    check_no_nul,
    check_ref_name,
    did_you_mean,
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

TOP_KEYS = frozenset({"version", "run", "defaults", "agents", "merge", "tasks"})

RUN_KEYS = frozenset(
    {
        "name",
        "base",
        "max_parallel",
        "strategy",
        "setup",
        "pool",
        "budget_usd",
        "backend",
        "isolation",
    }
)

BACKENDS = ("local", "ray")

MERGE_KEYS = (
    frozenset({"into", "method", "check", "timeout", "batch", "parallel_checks", "check_retries"})
    | RESOLUTION_KEYS
)

AGENT_KEYS = frozenset({"command"})

_TEMPLATE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def _command(value: Any, where: Where, key: str) -> Command:
    if isinstance(value, str) and value.strip():
        command = Command((value,), shell=True)
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        command = Command(tuple(value))
    else:
        raise where.error(f"{key} must be a non-empty string (run by the shell) or list of strings")
    for part in command.argv:
        check_no_nul(part, where, key)
        for match in _TEMPLATE.finditer(part):
            name = match[1]
            if name is not None and name not in TEMPLATE_VARS:
                hint = did_you_mean(name, TEMPLATE_VARS)
                raise where.error(
                    f"{key} uses unknown variable {{{name}}}{hint}; known: "
                    + ", ".join(f"{{{v}}}" for v in TEMPLATE_VARS)
                    + " (write {{ and }} for literal braces)"
                )
    if command.shell:
        name = unexpandable(command.argv[0])
        if name:
            raise where.error(
                f"{key} puts {name} in a quoted here-document (<<'EOF'), where the shell "
                "expands nothing: write its delimiter unquoted (<<EOF)"
            )
    return command


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


def _run_settings(raw: Any, path: Path) -> RunSettings:
    where = Where(path)
    table = typed(raw, dict, where, "[run]", "a table")
    check_keys(table, RUN_KEYS, where, "[run]")
    name = typed(table.get("name", path.stem), str, where, "[run] name", "a string")
    check_branch_component(name, f'[run] name "{name}"', path)
    base = typed(table.get("base", "HEAD"), str, where, "[run] base", "a string")
    check_no_nul(base, where, "[run] base")
    max_parallel = typed(
        table.get("max_parallel", 4), int, where, "[run] max_parallel", "an integer"
    )
    if max_parallel < 1:
        raise where.error(f"[run] max_parallel must be at least 1, not {max_parallel}")
    strategy = enum_value(table.get("strategy", "critical-path"), Strategy, where, "[run] strategy")
    setup = _command(table["setup"], where, "[run] setup") if "setup" in table else None
    pool = typed(table.get("pool", True), bool, where, "[run] pool", "true or false")
    budget = _dollars(table, "budget_usd", where, "[run] budget_usd")
    backend = typed(table.get("backend", "local"), str, where, "[run] backend", "a string")
    if backend not in BACKENDS:
        hint = did_you_mean(backend, BACKENDS)
        raise where.error(f'[run] backend must be "local" or "ray", not "{backend}"{hint}')
    isolation = enum_value(table.get("isolation", "worktree"), Isolation, where, "[run] isolation")
    return RunSettings(
        name,
        base,
        max_parallel,
        strategy,
        setup,
        pool,
        budget,
        backend=backend,
        isolation=isolation,
    )


def _merge_settings(raw: Any, path: Path, agents: Mapping[str, Agent]) -> MergeSettings:
    where = Where(path)
    table = typed(raw, dict, where, "[merge]", "a table")
    check_keys(table, MERGE_KEYS, where, "[merge]")
    into = typed(table.get("into", DEFAULT_INTO), str, where, "[merge] into", "a string")
    for match in _TEMPLATE.finditer(into):
        if match[1] is not None and match[1] != "run":
            raise where.error(f"[merge] into uses unknown variable {{{match[1]}}}; known: {{run}}")
    check_ref_name(into.replace("{run}", "run"), where, "[merge] into")
    method = enum_value(table.get("method", "merge"), MergeMethod, where, "[merge] method")
    check = _command(table["check"], where, "[merge] check") if "check" in table else None
    timeout = table.get("timeout")
    timeout_s = None if timeout is None else parse_duration(timeout, where, "[merge] timeout")
    return MergeSettings(
        into,
        method,
        check,
        timeout_s,
        *_batching(table, where),
        on_conflict=on_conflict(table, where, "[merge] on_conflict") or OnConflict.LEAVE,
        rerun_limit=rerun_limit(table, where),
        resolver=resolver(table, where, agents, _command, find_agent),
    )


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


def _batching(table: dict[str, Any], where: Where) -> tuple[int | None, int | None, int]:
    """[merge] batch ("auto" or N >= 1), parallel_checks (K >= 1), check_retries (N >= 0)."""
    batch = table.get("batch", "auto")
    if batch != "auto" and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise where.error(
            f'[merge] batch must be "auto" or a whole number of at least 1 (1 checks each '
            f"task on its own), not {batch!r}"
        )
    parallel = table.get("parallel_checks")
    if parallel is not None:
        typed(parallel, int, where, "[merge] parallel_checks", "an integer")
        if parallel < 1:
            raise where.error(f"[merge] parallel_checks must be at least 1, not {parallel}")
    retries = typed(
        table.get("check_retries", 0), int, where, "[merge] check_retries", "an integer"
    )
    if retries < 0:
        raise where.error(f"[merge] check_retries must be 0 or more, not {retries}")
    return (None if batch == "auto" else batch), parallel, retries


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
        agents[name] = Agent(name, _command(body["command"], where, f"{what} command"))
    return agents


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


def _dollars(raw: Mapping[str, Any], key: str, where: Where, name: str) -> float | None:
    """An amount of US dollars (budget_usd, max_cost_usd), or None when not given."""
    if key not in raw:
        return None
    value = typed(raw[key], (int, float), where, name, "a number of US dollars")
    if not math.isfinite(value) or value < 0:
        raise where.error(
            f"{name} must be a finite number of US dollars, not negative, not {value}"
        )
    return float(value)


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


def _task(
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
        command = _command(merged["command"], where, "command")
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
        check=_command(merged["check"], where, "check") if "check" in merged else None,
        env=_env(merged.get("env", {}), where),
        resources=_resources(merged.get("resources", {}), where),
        on_conflict=on_conflict(merged, where, "on_conflict"),
        max_cost_usd=_dollars(merged, "max_cost_usd", where, "max_cost_usd"),
    )


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
    tasks = [_task(entry, i, defaults, agents, path) for i, entry in enumerate(entries)]
    seen: set[str] = set()
    for task in tasks:
        if task.id in seen:
            raise Where(path, task.id).error("duplicate task id: each id must be unique")
        seen.add(task.id)
    _check_graph(tasks, path)
    plan = Plan(
        path=path.resolve(),
        text=text,
        run=_run_settings(raw.get("run", {}), path),
        merge=_merge_settings(raw.get("merge", {}), path, agents),
        tasks=tuple(tasks),
        agents=agents,
        version=raw["version"],
    )
    _check_target(plan, path)
    _check_resolver(plan, path)
    return plan
