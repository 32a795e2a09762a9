"""`genesis-par resume [RUN]`: continue an interrupted run; finished work is not redone."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from genesis_par.commands.run import observers_for, show, with_ray_address
from genesis_par.report import run_view
from genesis_par.report.metrics import MetricsFile
from genesis_par.report.run_json import run_json
from genesis_par.run.resume import AlreadyFinished
from genesis_par.run.resume import resume as resume_run


def resume(
    cwd: Path,
    run: str | None = None,
    *,
    retry_failed: bool = False,
    plan_path: Path | None = None,
    as_json: bool = False,
    budget: float | None = None,
    metrics: Path | None = None,
    backend: str | None = None,
    ray_address: str | None = None,
    env: Mapping[str, str] = os.environ,
) -> int:
    """Run what the run did not finish, then conflicts and the merge queue; run's exit codes.
    budget: the run's budget_usd from now on (a run stopped by its budget goes on)."""
    env = with_ray_address(env, ray_address)
    gauges = MetricsFile.checked(metrics) if metrics is not None else None
    with observers_for(as_json, gauges) as observers:
        result = resume_run(
            cwd,
            run,
            env,
            retry_failed=retry_failed,
            plan_path=plan_path,
            backend=backend,
            observers=observers,
            budget=budget,
        )
    if isinstance(result, AlreadyFinished):
        run_view.note(
            f'run "{result.run}" already finished ({result.status}): nothing to resume. '
            f"`genesis-par merge --run {result.run}` lands its work again; "
            "`resume --retry-failed` runs its failed and skipped tasks again"
        )
        if as_json:
            finished = result.finished
            run_view.print_json(run_json(finished) if finished else {"run": result.run})
        return result.exit_code
    return show(result, as_json, env, gauges)
