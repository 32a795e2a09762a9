"""`best_of = N`: N candidates of one task in parallel worktrees; the best passing one wins.

Each candidate runs the agent once from the task's start commit in a detached worktree, then
the task's check. Among the passing candidates the smallest diff wins (the first to finish on a
tie): its worktree becomes the task's, on the task's branch. The others are kept under
`refs/genesis/<run>/<task>/candidate-<k>`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from genesis_par import gitops, proc, worktrees
from genesis_par.plan import templates
from genesis_par.plan.model import Task
from genesis_par.run.attempts import Recorder, RunSpec, TaskProgress, fence_for, values_for
from genesis_par.worktrees import clones
from genesis_par.worktrees.pool import discard_folder


@dataclass
class Candidate:
    k: int
    path: Path
    log: Path
    outcome: proc.Outcome | None = None
    check_failed: bool = False
    commit: str | None = None
    changed: bool = False
    diff_lines: int = 0
    finished_at: float = 0.0
    escape: gitops.Verdict | None = None  # its agent or check reached outside the task

    @property
    def passed(self) -> bool:
        """The agent exited 0 and the check (if any) passed."""
        ok = self.outcome is not None and self.outcome.failure is None
        return ok and not self.check_failed and self.commit is not None and not self.escape


def _run_one(
    spec: RunSpec,
    task: Task,
    c: Candidate,
    start: str,
    progress: TaskProgress,
    cancel: threading.Event,
    record: Recorder,
) -> None:
    values = {**values_for(spec, task, c.path, progress)}
    env = {**spec.env, **dict(task.env)}  # expand() adds the GENESIS_* variables
    limits = proc.Limits(timeout_s=task.timeout_s, memory_bytes=task.memory_bytes, cpu=task.cpu)
    record(task.id, "attempt", {"n": c.k, "log": str(c.log)})
    argv, run_env = templates.expand(task.command, values, env)
    with gitops.guard(fence_for(spec, task, progress, c.path, f"candidate-{c.k}", c.log)) as fence:
        c.outcome = proc.run(
            argv,
            cwd=c.path,
            env=fence.env(run_env),
            log_path=c.log,
            limits=limits,
            cancel=cancel,
            shell=task.command.shell,
        )
    c.escape = c.escape or (fence.verdict if fence.verdict.failure else None)
    record(
        task.id,
        "exited",
        {
            "n": c.k,
            "exit_code": c.outcome.exit_code,
            "failure": c.outcome.failure,
            "peak_rss_bytes": c.outcome.peak_rss_bytes,
        },
    )
    if c.outcome.failure is None and task.check is not None:
        check_argv, check_env = templates.expand(task.check, values, env)
        label = f"candidate-{c.k}.check"
        with gitops.guard(fence_for(spec, task, progress, c.path, label, c.log)) as fence:
            check = proc.run(
                check_argv,
                cwd=c.path,
                env=fence.env(check_env),
                log_path=c.log,
                limits=limits,
                cancel=cancel,
                shell=task.check.shell,
            )
        c.check_failed = check.failure is not None
        c.escape = c.escape or (fence.verdict if fence.verdict.failure else None)
    message = (
        f"genesis-par: {task.id} (candidate {c.k})\n\nGenesis-Run: {spec.run}\n"
        f"Genesis-Task: {task.id}\n"
    )
    done = _commit(spec, task, c, start, message)
    if done is None:
        return
    c.commit, c.changed = done.commit, done.changed
    c.diff_lines = gitops.diff_lines(spec.repo.root, start, done.commit)
    c.finished_at = time.monotonic()


def _commit(
    spec: RunSpec, task: Task, c: Candidate, start: str, message: str
) -> gitops.Committed | None:
    """Record the candidate's work (detached; in clone mode on its clone's branch, fetched home
    as candidate-<k>); None when it cannot pass."""
    try:
        if not spec.clone:
            own = spec.repo.common_dir
            return gitops.commit_all(
                c.path, message, start, spec.git_env, spec.included, common_dir=own
            )
        ref = f"refs/genesis/{spec.run}/{task.id}/candidate-{c.k}"
        branch = worktrees.branch_name(spec.run, task.id)
        return clones.record(
            spec.repo, c.path, message, start, spec.git_env, spec.included, branch, ref
        )
    except gitops.WorktreeBroken:  # never followed; the candidate does not pass
        return None
    except gitops.ForeignHistory as e:  # its clone's branch lost the start: not taken
        c.escape = c.escape or gitops.Verdict("history", f"its agent {e}")
        return None


def run(
    spec: RunSpec, task: Task, progress: TaskProgress, cancel: threading.Event, record: Recorder
) -> None:
    """Run the candidates, keep the winner on the task's branch, the rest under refs."""
    assert progress.start_commit is not None
    start = progress.start_commit
    candidates = []
    branch = worktrees.branch_name(spec.run, task.id)
    if spec.clone and gitops.resolve_commit(spec.repo.root, branch) is None:
        gitops.update_ref(spec.repo.root, f"refs/heads/{branch}", start)  # start stays reachable
    for k in range(1, task.best_of + 1):
        path = worktrees.path_for(spec.repo.root, spec.run, f"{task.id}~{k}")
        path.parent.mkdir(parents=True, exist_ok=True)
        if spec.clone:
            gitops.add_clone(spec.repo.common_dir, path, branch, start, spec.repo.root)
        else:
            gitops.add_detached_worktree(spec.repo.root, spec.repo.common_dir, path, start)
        log = spec.state_dir / "logs" / spec.run / f"{task.id}.candidate-{k}.log"
        candidates.append(Candidate(k, path, log))
    progress.status, progress.attempts = "running", task.best_of
    threads = [
        threading.Thread(target=_run_one, args=(spec, task, c, start, progress, cancel, record))
        for c in candidates
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    passing = sorted(
        (c for c in candidates if c.passed), key=lambda c: (c.diff_lines, c.finished_at)
    )
    if any(c.escape for c in candidates):  # one agent of the task reached out: the task fails
        passing = []
    if passing:
        _crown(spec, task, progress, passing[0])
    else:
        _all_failed(progress, candidates)
    for c in candidates:
        if passing and c is passing[0]:
            continue
        if spec.clone:  # its commit is home already, as candidate-<k>
            discard_folder(spec.repo, c.path)
            continue
        if c.commit:
            gitops.update_ref(
                spec.repo.root, f"refs/genesis/{spec.run}/{task.id}/candidate-{c.k}", c.commit
            )
        aside = gitops.remove_worktree(
            spec.repo.root, spec.repo.common_dir, c.path, spec.repo.root / ".genesis" / "trash"
        )
        proc.delete_in_background(aside)


def _crown(spec: RunSpec, task: Task, progress: TaskProgress, winner: Candidate) -> None:
    """The winner's worktree becomes the task's, on the task's branch."""
    assert winner.commit is not None
    path = worktrees.path_for(spec.repo.root, spec.run, task.id)
    branch = worktrees.branch_name(spec.run, task.id)
    if spec.clone:  # a clone is a folder of its own: moved as one, already on its branch
        winner.path.rename(path)
        ref = f"refs/genesis/{spec.run}/{task.id}/candidate-{winner.k}"
        gitops.update_ref(
            spec.repo.root, f"refs/heads/{branch}", winner.commit, progress.start_commit
        )
        gitops.delete_ref(spec.repo.root, ref)
    else:
        gitops.move_worktree(spec.repo.root, spec.repo.common_dir, winner.path, path)
        gitops.switch_worktree(path, branch, winner.commit)
    progress.status, progress.failure = "succeeded", None
    progress.reason = f"candidate {winner.k} of {task.best_of} won ({winner.diff_lines} lines)"
    progress.commit, progress.changed, progress.exit_code = winner.commit, winner.changed, 0
    progress.log = winner.log


def _all_failed(progress: TaskProgress, candidates: list[Candidate]) -> None:
    first = candidates[0]
    progress.status = "failed"
    escaped = next((c for c in candidates if c.escape), None)
    if escaped is not None and escaped.escape is not None:
        progress.failure = escaped.escape.failure
        progress.reason = f"candidate {escaped.k}: {escaped.escape.reason}"
        progress.exit_code = escaped.outcome.exit_code if escaped.outcome else None
        progress.log = escaped.log
        return
    if first.outcome is not None and first.outcome.failure not in (None, "exit"):
        progress.failure = first.outcome.failure
    else:
        progress.failure = "check" if first.check_failed else "exit"
    progress.exit_code = first.outcome.exit_code if first.outcome else None
    progress.reason = f"none of the {len(candidates)} candidates passed"
    progress.log = first.log
