"""The [run] and [merge] tables of a plan -> RunSettings and MergeSettings, each rule one
PlanError line."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genesis_par.plan.command_value import TEMPLATE, parse_command
from genesis_par.plan.model import (
    DEFAULT_INTO,
    Agent,
    Command,
    Isolation,
    MergeMethod,
    MergeSettings,
    RunSettings,
    Strategy,
)
from genesis_par.plan.on_conflict import RESOLUTION_KEYS, OnConflict, on_conflict, rerun_limit
from genesis_par.plan.presets import find_agent
from genesis_par.plan.values import (
    Where,
    check_branch_component,
    check_keys,
    check_no_nul,
    check_ref_name,
    did_you_mean,
    dollars,
    enum_value,
    parse_duration,
    typed,
)

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


def run_settings(raw: Any, path: Path) -> RunSettings:
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
    setup = parse_command(table["setup"], where, "[run] setup") if "setup" in table else None
    pool = typed(table.get("pool", True), bool, where, "[run] pool", "true or false")
    budget = dollars(table, "budget_usd", where, "[run] budget_usd")
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


def merge_settings(raw: Any, path: Path, agents: Mapping[str, Agent]) -> MergeSettings:
    where = Where(path)
    table = typed(raw, dict, where, "[merge]", "a table")
    check_keys(table, MERGE_KEYS, where, "[merge]")
    into = typed(table.get("into", DEFAULT_INTO), str, where, "[merge] into", "a string")
    for match in TEMPLATE.finditer(into):
        if match[1] is not None and match[1] != "run":
            raise where.error(f"[merge] into uses unknown variable {{{match[1]}}}; known: {{run}}")
    check_ref_name(into.replace("{run}", "run"), where, "[merge] into")
    method = enum_value(table.get("method", "merge"), MergeMethod, where, "[merge] method")
    check = parse_command(table["check"], where, "[merge] check") if "check" in table else None
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
        resolver=resolver(table, where, agents),
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


def resolver(
    raw: Mapping[str, Any],
    where: Where,
    agents: Mapping[str, Agent],
) -> Command | None:
    """[merge] resolver: an agent's name (the plan's own or a preset), or a command."""
    if "resolver" not in raw:
        return None
    value = raw["resolver"]
    if isinstance(value, str) and value.strip() and " " not in value.strip():
        agent = find_agent(value.strip(), agents)
        if agent is not None:
            return agent.command
    return parse_command(value, where, "[merge] resolver")
