"""One task to its end, whatever happens: its best_of candidates or its attempts, and any
error under it turned into the task's failure (never the run's)."""

from __future__ import annotations

import threading
import time

from genesis_par import gitops
from genesis_par.errors import GenesisError
from genesis_par.model import Failure
from genesis_par.plan.model import Task
from genesis_par.run import attempts, candidates, workspace
from genesis_par.run.progress import Recorder, TaskProgress, fail
from genesis_par.run.spec import RunSpec


def run_task(
    spec: RunSpec,
    task: Task,
    progress: TaskProgress,
    cancel: threading.Event,
    record: Recorder,
) -> None:
    """Run task to its end in its own worktree; progress holds the result."""
    try:
        progress.started_at = time.time()
        if candidates.wanted(spec, task, progress):
            candidates.run(spec, task, progress, cancel, record)
            progress.duration_s = time.time() - progress.started_at
        else:
            attempts.run_attempts(spec, task, progress, cancel, record)
    except gitops.WorktreeBroken as e:  # never followed: it could lead to the user's checkout
        fail(progress, Failure.WORKTREE, workspace.broken_reason(e))
        if progress.started_at is not None:
            progress.duration_s = time.time() - progress.started_at
    except gitops.ForeignHistory as e:  # a clone's branch without its start: nothing taken
        fail(progress, Failure.HISTORY, f"its agent {e}")
        if progress.started_at is not None:
            progress.duration_s = time.time() - progress.started_at
    except GenesisError as e:  # git failing under one task fails that task, not the run
        fail(progress, Failure.SETUP, str(e))
        if progress.started_at is not None:
            progress.duration_s = time.time() - progress.started_at
    except Exception as e:  # anything else too (a bug, or what an agent did to the files)
        attempts.unexpected(spec, task, progress, e)
