"""`genesis-par merge [BRANCH...]` and `genesis-par rollback [RUN]`."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from genesis_par import gitops, worktrees
from genesis_par.commands.common import open_store, state_dir
from genesis_par.errors import UsageError
from genesis_par.land import merge, resolve
from genesis_par.land import rollback as rollback_core
from genesis_par.model import ExitCode
from genesis_par.plan.model import MergeMethod
from genesis_par.report import merge_view, run_view
from genesis_par.run import rerun


def _method(name: str | None) -> MergeMethod | None:
    if name is None:
        return None
    try:
        return MergeMethod(name)
    except ValueError:
        raise UsageError(f'unknown --method "{name}": use merge, squash or rebase') from None


def run(
    cwd: Path,
    branches: Sequence[str] = (),
    *,
    run_name: str | None = None,
    into: str | None = None,
    method: str | None = None,
    dry_run: bool = False,
    as_json: bool = False,
    check: str | None = None,
    env: Mapping[str, str] = os.environ,
) -> int:
    """Merge a run's succeeded branches (or the named ones) onto the target; 3 if any is left."""
    repo, state = state_dir(cwd)
    gitops.check_version(repo.root)
    worktrees.check_layout(repo)
    chosen = _method(method)
    cancel = threading.Event()
    if branches:
        git_env = gitops.identity_env(repo.root)
        checking = merge.named_check(state, check, run_name, into)
        home = merge.merge_branches(
            repo, state, branches, into, chosen, dry_run, git_env, env, checking
        )
    else:
        if check is not None:
            raise UsageError(
                "--check is for named branches: a run's merge uses its plan's [merge] check"
            )
        with open_store(state, read_only=dry_run) as store, resolve.interruptible(cancel):
            lines = run_view.plain_lines(to_stderr=as_json)  # stdout: the result
            hooks_for = rerun.hooks_for(repo, store, env, cancel, lines.event)
            home = merge.merge_run(
                repo, store, run_name, into, chosen, dry_run, env, lines.merge_step, hooks_for
            )
    merge_view.show(home, dry_run, as_json)
    if cancel.is_set():
        again = f" --run {run_name}" if run_name else ""
        run_view.note(f"interrupted: `genesis-par merge{again}` carries on where it stopped")
        return ExitCode.INTERRUPTED
    return ExitCode.CONFLICTS if home.queue and home.queue.unmerged else ExitCode.OK


def rollback(
    cwd: Path, run_name: str | None = None, *, revert: bool = False, as_json: bool = False
) -> int:
    """Put the run's merge target back where it was before the run's merges."""
    repo, state = state_dir(cwd)
    with open_store(state) as store:
        done = rollback_core.rollback(repo, store, run_name, revert)
    merge_view.show_rollback(done.into, done.old, done.new, done.reverted, as_json)
    return ExitCode.OK
