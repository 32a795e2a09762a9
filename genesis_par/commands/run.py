"""`genesis-par run PLAN`: the run flow (run/flow.py) shown in a live view or as plain lines,
then its summary or JSON."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from genesis_par import plan as plan_mod
from genesis_par.report import formats, run_view
from genesis_par.report.metrics import MetricsFile
from genesis_par.report.run_json import run_json
from genesis_par.run import flow
from genesis_par.run.backend import choose
from genesis_par.run.executor import RunProgress


@contextmanager
def observers_for(as_json: bool, metrics: MetricsFile | None = None) -> Iterator[flow.Observers]:
    """A live view in a terminal; plain lines in CI (FORCE_COLOR there still gets them) or,
    beside --json, on stderr; the metrics file, if any, rewritten at each tick."""
    if sys.stdout.isatty() and not as_json:
        with run_view.LiveView() as view:
            yield flow.Observers(
                run_view.note, tick=_with_metrics(view.tick, metrics), merge_step=view.merge_step
            )
        return
    lines = run_view.plain_lines(to_stderr=as_json)
    yield flow.Observers(
        run_view.note,
        event=lines.event,
        merge_step=lines.merge_step,
        tick=_with_metrics(None, metrics),
    )


def _with_metrics(
    tick: Callable[[RunProgress], None] | None, metrics: MetricsFile | None
) -> Callable[[RunProgress], None]:
    def both(progress: RunProgress) -> None:
        if tick is not None:
            tick(progress)
        if metrics is not None and (failed := metrics.update(progress)):
            run_view.note(failed)

    return both


def run(
    cwd: Path,
    plan_path: Path,
    *,
    name: str | None = None,
    as_json: bool = False,
    fail_fast: bool = False,
    no_merge: bool = False,
    into: str | None = None,
    isolation: str | None = None,
    metrics: Path | None = None,
    backend: str | None = None,
    ray_address: str | None = None,
    env: Mapping[str, str] = os.environ,
) -> int:
    """Run every task of the plan, probe conflicts, merge the safe work; the exit code.
    metrics: a Prometheus text file kept up to date while the run goes on."""
    plan = flow.with_isolation(flow.with_name(plan_mod.load(plan_path), name), isolation)
    plan = choose(plan, backend)
    env = with_ray_address(env, ray_address)
    options = flow.Options(fail_fast, not no_merge, into)
    gauges = MetricsFile.checked(metrics) if metrics is not None else None
    with observers_for(as_json, gauges) as observers:
        result = flow.start(cwd, plan, options, env, observers)
    return show(result, as_json, env, gauges)


def with_ray_address(env: Mapping[str, str], ray_address: str | None) -> Mapping[str, str]:
    """env with RAY_ADDRESS set to --ray-address, when given (the ray backend reads it)."""
    return {**env, "RAY_ADDRESS": ray_address} if ray_address else env


def show(
    result: flow.RunResult,
    as_json: bool,
    env: Mapping[str, str],
    metrics: MetricsFile | None = None,
) -> int:
    """The run's summary (or JSON), and in GitHub Actions its job summary; the exit code."""
    if metrics is not None:  # the merge queue ran after the last tick
        merged = result.landing is not None and result.landing.queue is not None
        if failed := metrics.update(result.progress, merged=merged):
            run_view.note(failed)
    record = run_json(result.finished)
    if as_json:
        run_view.print_json(record)
    else:
        run_view.print_summary(result.progress, result.landing, result.status)
    summary_file = env.get("GITHUB_STEP_SUMMARY")
    if summary_file:  # in GitHub Actions the job page shows the run's summary
        try:
            with open(summary_file, "a", encoding="utf-8") as handle:
                handle.write(formats.markdown(record) + "\n")
        except OSError as e:  # the summary is a courtesy: it never changes the run's outcome
            run_view.note(f"could not append to GITHUB_STEP_SUMMARY ({summary_file}): {e.strerror}")
    return result.exit_code
