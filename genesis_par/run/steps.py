"""One step: a command of a task (setup, agent, check, a best_of candidate) or the merge check,
expanded with the run's template values and run once under its limits.

Every process genesis-par starts for a plan is built here, from one set of values and through
one `proc.run` call, so that what one kind of step gets (a variable, a fence, a pid recorded,
memory samples) no other kind can miss (issue 14)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from genesis_par import gitops, proc
from genesis_par.model import Failure
from genesis_par.plan import templates
from genesis_par.plan.model import Command

PORT_BASE = 41000  # GENESIS_PORT values: one per running task; the merge check gets the first


def template_values(
    *,
    run: str,
    task: str,
    worktree: Path,
    branch: str,
    base: str,
    port: int = PORT_BASE,
    prompt: str = "",
    prompt_file: str = "",
    conflict: str = "",
    conflict_file: str = "",
) -> dict[str, str]:
    """Every template variable (plan.TEMPLATE_VARS), hence every GENESIS_* variable."""
    return {
        "run": run,
        "task": task,
        "worktree": str(worktree),
        "branch": branch,
        "base": base,
        "prompt": prompt,
        "prompt_file": prompt_file,
        "port": str(port),
        "conflict": conflict,  # why a rerun runs (issue 15); empty otherwise
        "conflict_file": conflict_file,  # GENESIS_CONFLICT_FILE
    }


@dataclass(frozen=True)
class Step:
    """One command to run once, where and how."""

    command: Command
    cwd: Path
    log: Path
    values: Mapping[str, str]
    env: Mapping[str, str]  # expand() adds the GENESIS_* variables
    limits: proc.Limits
    exit_file: Path | None = None  # default: the agent's, beside log


class Ran(NamedTuple):
    outcome: proc.Outcome
    escape: gitops.Verdict | None  # the fence's verdict when the step reached outside its task


def run(
    step: Step,
    cancel: threading.Event,
    *,
    fence: gitops.Scope | None = None,
    on_start: Callable[[proc.Started], None] = lambda s: None,
    on_sample: Callable[[int, float], Failure | None] = lambda rss, cpu_s: None,
) -> Ran:
    """Run the step to its end; a task's step runs fenced in (gitops.guard)."""
    argv, env = templates.expand(step.command, step.values, step.env)
    with _fenced(fence) as guarded:
        outcome = proc.run(
            argv,
            cwd=step.cwd,
            env=guarded.env(env) if guarded else env,
            log_path=step.log,
            limits=step.limits,
            cancel=cancel,
            shell=step.command.shell,
            on_start=on_start,
            on_sample=on_sample,
            exit_file=step.exit_file,
        )
    escape = guarded.verdict if guarded and guarded.verdict.failure else None
    return Ran(outcome, escape)


@contextlib.contextmanager
def _fenced(scope: gitops.Scope | None) -> Iterator[gitops.Fence | None]:
    if scope is None:
        yield None
        return
    with gitops.guard(scope) as fence:
        yield fence
