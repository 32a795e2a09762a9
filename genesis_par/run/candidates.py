"""`best_of = N`: N candidates of one task in parallel worktrees; the best passing one wins.

Each candidate is set up like an attempt in a detached worktree from the task's start commit
(the .worktreeinclude files, [run] setup), then runs the agent once (its process recorded, its
memory sampled), then the task's check. Among the passing candidates the smallest diff wins
(the first to finish on a tie): its worktree becomes the task's, on the task's branch. The
others are kept under `refs/genesis/<run>/<task>/candidate-<k>`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from genesis_par import gitops, proc, worktrees
from genesis_par.model import FINAL_FAILURES, Failure, TaskStatus
from genesis_par.plan.model import Task
from genesis_par.run import steps
from genesis_par.run.attempts import run_agent
from genesis_par.run.progress import Recorder, TaskProgress
from genesis_par.run.setup_check import Failed, run_check, run_setup
from genesis_par.run.spec import RunSpec, values_for
from genesis_par.run.workspace import copy_included
from genesis_par.state.records import CandidateRecord
from genesis_par.usage import Usage
from genesis_par.worktrees import clones
from genesis_par.worktrees.pool import discard_folder


@dataclass
class Candidate:
    k: int
    path: Path
    log: Path
    outcome: proc.Outcome | None = None
    failed: Failed | None = None  # its setup or check failed
    commit: str | None = None
    changed: bool = False
    diff_lines: int = 0
    finished_at: float = 0.0
    escape: Failed | None = None  # its setup, agent or check reached outside the task
    usage: Usage = field(default_factory=Usage)
    checked: bool = False  # its check ran

    @property
    def passed(self) -> bool:
        """Its setup and agent exited 0 and the check (if any) passed."""
        ok = self.outcome is not None and self.outcome.failure is None
        return ok and not self.failed and self.commit is not None and not self.escape

    def fail(self, failed: Failed | None) -> None:
        """Record why a step failed; one that reached outside the task is an escape."""
        if failed is not None and failed.failure in FINAL_FAILURES:
            self.escape = self.escape or failed
        elif failed is not None:
            self.failed = self.failed or failed


class _Memory:
    """The task's resident memory while its candidates run: the sum of theirs."""

    def __init__(self, progress: TaskProgress) -> None:
        self.progress = progress
        self.parts: dict[int, int] = {}
        self.lock = threading.Lock()

    def sampler(self, k: int) -> Callable[[int], None]:
        def sample(rss: int) -> None:
            with self.lock:
                self.parts[k] = rss
                total = sum(self.parts.values())
            self.progress.rss_bytes = total
            self.progress.peak_rss_bytes = max(self.progress.peak_rss_bytes, total)

        return sample


def _run_one(
    spec: RunSpec,
    task: Task,
    c: Candidate,
    start: str,
    progress: TaskProgress,
    cancel: threading.Event,
    record: Recorder,
    memory: _Memory,
) -> None:
    """One candidate in its own worktree, like an attempt: the .worktreeinclude files and
    [run] setup, then the agent, then the check; its result committed (detached)."""
    values = values_for(spec, task, c.path, progress)
    env = {**spec.env, **dict(task.env)}  # expand() adds the GENESIS_* variables
    limits = proc.Limits(timeout_s=task.timeout_s, memory_bytes=task.memory_bytes, cpu=task.cpu)
    label = f"candidate-{c.k}"
    copy_included(spec, c.path)
    setup_exit = spec.setup_exit_file(f"{task.id}~{c.k}")
    c.fail(run_setup(spec, task, progress, c.path, values, env, c.log, label, setup_exit, cancel))
    if c.failed or c.escape:
        return
    step = steps.Step(task.command, c.path, c.log, values, env, limits)
    sample = memory.sampler(c.k)
    ran, c.usage = run_agent(spec, task, progress, c.k, c.path, step, label, cancel, record, sample)
    sample(0)  # its tree is gone
    c.outcome = ran.outcome
    if ran.escape is not None:
        c.fail(Failed(ran.escape.failure or Failure.ESCAPED, ran.escape.reason or "", ran.outcome))
    if c.outcome.failure is None:
        c.checked = task.check is not None
        check_label = f"{label}.check"
        c.fail(
            run_check(spec, task, progress, c.path, values, env, c.log, check_label, limits, cancel)
        )
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
        assert c.outcome is not None
        c.fail(Failed(Failure.HISTORY, f"its agent {e}", c.outcome))
        return None


def wanted(spec: RunSpec, task: Task, progress: TaskProgress) -> bool:
    """best_of candidates run for a task's first go in a fresh worktree (a resumed task that
    already has its worktree goes on with its attempts there)."""
    fresh = not (worktrees.path_for(spec.repo.root, spec.run, task.id) / ".git").exists()
    return task.best_of > 1 and fresh and progress.attempts == 0


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
    progress.status, progress.attempts = TaskStatus.RUNNING, task.best_of
    memory = _Memory(progress)
    threads = [
        threading.Thread(
            target=_run_one, args=(spec, task, c, start, progress, cancel, record, memory)
        )
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
    progress.candidates = tuple(
        _summary(c, task, winner=bool(passing) and c is passing[0]) for c in candidates
    )
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


def _summary(c: Candidate, task: Task, winner: bool) -> CandidateRecord:
    """One candidate as the task's record keeps it (docs/json.md, "candidates")."""
    check_failed = c.failed is not None and c.failed.failure is Failure.CHECK
    return CandidateRecord(
        c.k,
        task.agent,
        c.outcome.exit_code if c.outcome else None,
        c.outcome.failure if c.outcome else None,
        ("failed" if check_failed else "passed") if c.checked else None,
        c.diff_lines if c.commit else None,
        c.usage,
        winner,
    )


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
    progress.status, progress.failure = TaskStatus.SUCCEEDED, None
    progress.reason = f"candidate {winner.k} of {task.best_of} won ({winner.diff_lines} lines)"
    progress.commit, progress.changed, progress.exit_code = winner.commit, winner.changed, 0
    progress.log = winner.log


def _all_failed(progress: TaskProgress, candidates: list[Candidate]) -> None:
    first = candidates[0]
    progress.status = TaskStatus.FAILED
    escaped = next((c for c in candidates if c.escape), None)
    if escaped is not None and escaped.escape is not None:
        progress.failure = escaped.escape.failure
        progress.reason = f"candidate {escaped.k}: {escaped.escape.reason}"
        progress.exit_code = escaped.outcome.exit_code if escaped.outcome else None
        progress.log = escaped.log
        return
    if first.failed is not None:  # its setup or its check
        progress.failure = first.failed.failure
    elif first.outcome is not None and first.outcome.failure is not None:
        progress.failure = first.outcome.failure
    else:
        progress.failure = Failure.EXIT
    progress.exit_code = first.outcome.exit_code if first.outcome else None
    progress.reason = f"none of the {len(candidates)} candidates passed"
    progress.log = first.log
