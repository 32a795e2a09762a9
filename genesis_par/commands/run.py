"""`genesis-par run PLAN`: tasks in parallel worktrees, then (later issues) conflicts and merge."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from genesis_par import gitops, landing, plan_values, presets, proc, worktrees
from genesis_par import plan as plan_mod
from genesis_par.attempts import RunSpec, TaskProgress
from genesis_par.commands.common import open_store, stop_orphans
from genesis_par.errors import EnvironmentProblem, UsageError
from genesis_par.executor import RunProgress, execute
from genesis_par.plan import Isolation, MergeMethod, Plan
from genesis_par.report import formats, run_view
from genesis_par.state import Store, run_lock
from genesis_par.state_merges import RunSteps

EXIT_INTERRUPTED = 130
EXIT_CONFLICTS = 3


def _with_name(plan: Plan, name: str | None) -> Plan:
    if not name:
        return plan
    plan_values.check_branch_component(name, f'--name "{name}"')
    return dataclasses.replace(plan, run=dataclasses.replace(plan.run, name=name))


def _with_isolation(plan: Plan, isolation: str | None) -> Plan:
    """`run --isolation` over the plan's `[run] isolation`."""
    if isolation is None:
        return plan
    choices = {i.value: i for i in Isolation}
    if isolation not in choices:
        raise UsageError(f'--isolation "{isolation}" is not one of {", ".join(choices)}')
    return dataclasses.replace(
        plan, run=dataclasses.replace(plan.run, isolation=choices[isolation])
    )


def check_agents(plan: Plan) -> None:
    """Fail fast, before any worktree, when agents the tasks need are not installed (all of
    them named at once, so they are not found one run at a time)."""
    missing: dict[str, str] = {}  # agent -> what to say of it
    for task in plan.tasks:
        if task.agent is None or task.agent in missing:
            continue
        agent = plan_mod.find_agent(task.agent, plan.agents)
        if agent is not None and presets.executable(agent) and not presets.installed(agent):
            missing[task.agent] = (
                f'agent "{task.agent}" (task "{task.id}") is not installed: no '
                f'"{presets.executable(agent)}" on PATH; install it with '
                f"`{presets.install_hint(task.agent)}`, or set [agents.{task.agent}] command"
            )
    if missing:
        raise EnvironmentProblem("; ".join(missing.values()))


def _warn_about_memory(plan: Plan) -> None:
    """A memory limit above what the machine has can never be a real bound: say so."""
    total = proc.total_memory()
    for task in plan.tasks:
        if task.memory_bytes and task.memory_bytes > total:
            run_view.note(
                f'task "{task.id}": memory = {plan_values.format_size(task.memory_bytes)} is more '
                f"than this machine has ({plan_values.format_size(total)}), so it bounds nothing"
            )


def _pin_base(cwd: Path, plan: Plan) -> str:
    """The base as a commit, resolved where the user is: in a linked worktree HEAD is its own."""
    commit = gitops.resolve_commit(cwd, plan.run.base)
    if commit is None:
        raise EnvironmentProblem(
            f'{plan.path}: [run] base "{plan.run.base}" does not resolve to a commit in '
            f"{cwd}: name an existing branch, tag or commit"
        )
    return commit


class _Recorder:
    """Writes each event to the state store (before it is acted on) and to the plain lines."""

    def __init__(self, store: Store, run: str, lines: run_view.PlainLines | None) -> None:
        self.store, self.run, self.lines = store, run, lines

    def __call__(self, task: str, kind: str, data: dict[str, object]) -> None:
        self.store.record_event(self.run, task, kind, data)
        if self.lines:
            self.lines.event(task, kind, data)


@dataclass(frozen=True)
class Options:
    """How to run and bring work home."""

    as_json: bool = False
    fail_fast: bool = False
    merge: bool = True
    into: str | None = None
    method: MergeMethod | None = None


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
    env: Mapping[str, str] = os.environ,
) -> int:
    """Run every task of the plan, probe conflicts, merge the safe work; the exit code."""
    options = Options(as_json, fail_fast, not no_merge, into)
    plan = _with_isolation(_with_name(plan_mod.load(plan_path), name), isolation)
    repo = gitops.discover(cwd)
    gitops.check_version(repo.root)
    worktrees.check_layout(repo)
    base = _pin_base(cwd, plan)
    check_agents(plan)
    _warn_about_memory(plan)
    run_name = plan.run.name
    worktrees.refuse_taken_name(repo, run_name)
    where = landing.target(repo, run_name, plan, into)
    included = tuple(gitops.included_files(repo.root))  # checked before the run is recorded
    state_dir = repo.common_dir / "genesis-par"
    with open_store(state_dir) as store, run_lock(state_dir, run_name):
        stop_orphans(store)
        me = proc.identity()
        store.create_run(
            run_name,
            plan_path=str(plan.path),
            plan_text=plan.text,
            base_ref=plan.run.base,
            base_commit=base,
            into_ref=where.ref,
            pid=me.pid,
            create_time=me.create_time,
            tasks={t.id: worktrees.branch_name(run_name, t.id) for t in plan.tasks},
        )
        # kept for `resume` and `status` (`run --isolation` is not in the plan's text)
        store.record_event(run_name, None, "isolation", {"mode": plan.run.isolation.value})
        spec = RunSpec(
            repo,
            plan,
            run_name,
            base,
            state_dir,
            gitops.identity_env(repo.root),
            gitops.without_repository_variables(env),  # agents' git stays in their worktree
            included,
            plan.run.isolation,
        )
        progress = _execute(spec, store, as_json, fail_fast)
        return finish(spec, store, progress, where, options)


def finish(
    spec: RunSpec, store: Store, progress: RunProgress, where: landing.Target, options: Options
) -> int:
    """After the tasks: conflicts, the merge queue, the record, the summary; the exit code."""
    home: landing.Landing | None = None
    if not progress.interrupted:
        succeeded = {
            t.id: t.commit for t in progress.tasks.values() if t.status == "succeeded" and t.commit
        }
        home = landing.bring_home(
            spec.repo,
            spec.run,
            spec.plan,
            succeeded,
            spec.base_commit,
            where,
            method=options.method,
            merge_now=options.merge,
            state_dir=spec.state_dir,
            git_env=spec.git_env,
            env=spec.env,
            starts={t.id: t.start_commit for t in progress.tasks.values() if t.start_commit},
            journal=RunSteps(store, spec.run),
        )
        if home.queue is not None:
            q = home.queue
            data = {**run_view.landing_json(home), "steps": q.steps}  # what rollback undoes
            store.record_merge(spec.run, q.into, q.before, q.after, data)
    status, code = outcome(progress, home)
    result = {**run_view.run_json(progress, home, status), "isolation": spec.isolation.value}
    store.set_result(spec.run, result)
    store.finish_run(spec.run, status)
    if options.as_json:
        run_view.print_json(result)
    else:
        run_view.print_summary(progress, home, status)
    summary_file = spec.env.get("GITHUB_STEP_SUMMARY")
    if summary_file:  # in GitHub Actions the job page shows the run's summary
        try:
            with open(summary_file, "a", encoding="utf-8") as handle:
                handle.write(formats.markdown(result) + "\n")
        except OSError as e:  # the summary is a courtesy: it never changes the run's outcome
            run_view.note(f"could not append to GITHUB_STEP_SUMMARY ({summary_file}): {e.strerror}")
    return code


def _execute(
    spec: RunSpec,
    store: Store,
    as_json: bool,
    fail_fast: bool,
    earlier: Mapping[str, TaskProgress] | None = None,
) -> RunProgress:
    if sys.stdout.isatty() and not as_json:  # FORCE_COLOR in CI still gets plain lines
        with run_view.LiveView(spec.run) as view:
            recorder = _Recorder(store, spec.run, None)
            tick = lambda p: view.tick(p.tasks.values())  # noqa: E731
            return execute(spec, recorder, tick, fail_fast, earlier)
    recorder = _Recorder(store, spec.run, run_view.plain_lines(to_stderr=as_json))
    return execute(spec, recorder, fail_fast=fail_fast, earlier=earlier)


def outcome(progress: RunProgress, home: landing.Landing | None) -> tuple[str, int]:
    """The run's status and exit code: interrupted 130, a task failed 1, unmerged work 3."""
    if progress.interrupted:
        return "interrupted", EXIT_INTERRUPTED
    if progress.with_status("failed", "cancelled"):
        return "failed", 1
    unmerged = home is not None and (
        (home.queue is not None and bool(home.queue.unmerged))
        or (home.queue is None and not home.report.clean)
    )
    if unmerged:
        return "conflicts", EXIT_CONFLICTS
    return "succeeded", 0
