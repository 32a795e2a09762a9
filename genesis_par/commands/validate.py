"""`genesis-par validate PLAN`: schema and graph checks, no side effects."""

from __future__ import annotations

from pathlib import Path

from genesis_par import plan as plan_mod
from genesis_par.errors import PlanError, UsageError
from genesis_par.plan import graph
from genesis_par.plan.resolved import resolved as resolved_toml
from genesis_par.report import plan_view


def summarize(plan: plan_mod.Plan) -> plan_view.PlanSummary:
    """Levels, critical path and per-task facts of a valid plan."""
    dag = graph.build(plan.tasks)
    order = {t.id: t.index for t in plan.tasks}
    return plan_view.PlanSummary(
        run=plan.run.name,
        levels=graph.levels(dag, order),
        critical_path=graph.critical_path(dag, graph.plan_costs(plan)),
        depends_on={t.id: list(t.depends_on) for t in plan.tasks},
        priority={t.id: t.priority.label for t in plan.tasks},
        cost={t.id: t.cost for t in plan.tasks},
    )


def run(plan_path: Path, *, as_json: bool = False, resolved: bool = False) -> int:
    """Check the plan; 0 when valid, 2 (PlanError) when not. With resolved, print the plan
    with every default filled in (TOML) instead of the summary."""
    if resolved and as_json:
        raise UsageError("--resolved prints TOML: use it without --json")
    try:
        plan = plan_mod.load(plan_path)
        summary = summarize(plan)
    except PlanError as e:
        if not as_json:
            raise
        plan_view.print_raw(plan_view.error_json(str(e)))
        return e.exit_code
    if resolved:
        plan_view.print_raw(resolved_toml(plan).rstrip("\n"))
    elif as_json:
        plan_view.print_raw(plan_view.validate_json(summary))
    else:
        plan_view.print_validate(summary)
    return 0
