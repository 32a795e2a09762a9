"""The Ray backend: the coordinator stays here, each task's attempts run on a Ray node.

Placement: one `genesis_agent` slot per attempt (nodes declare how many agents they take),
`cpu` -> num_cpus, `memory` -> memory, `resources` -> custom resources; a task no node can
ever take fails at once (Ray would keep it waiting forever). Transport: the start commit goes
out as a bundle through the object store (put once per start commit), the task's commits
come back as a bundle, fetched here and set on the task branch by compare-and-swap.
Ray never re-runs an attempt by itself (max_retries=0): a lost node fails the attempt with
`node-lost`, and the plan's `retries` decide whether it runs again.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
import ray.exceptions
from ray.util.queue import Queue

from genesis_par import gitops, proc, worktrees
from genesis_par.errors import EnvironmentProblem, GenesisError
from genesis_par.gitops import bundle
from genesis_par.model import Failure, TaskStatus
from genesis_par.plan.model import Task
from genesis_par.run import ray_events, ray_node, ray_placement
from genesis_par.run.progress import Recorder, TaskProgress
from genesis_par.run.spec import RunSpec
from genesis_par.state.events import AttemptBegun, Exited

SLOT = "genesis_agent"
TICK_S = 0.1
CANCEL_GRACE_S = 15.0  # a soft cancel lets the node stop the tree gracefully; then forced
EVENTS_GRACE_S = 10.0  # for the last events of an attempt to arrive after its result
LOST = (
    ray.exceptions.NodeDiedError,
    ray.exceptions.WorkerCrashedError,
    ray.exceptions.LocalRayletDiedError,
    ray.exceptions.ObjectLostError,
    ray.exceptions.OwnerDiedError,
)


@dataclass
class Cluster:
    """The connection: the nodes as first seen, the event queue, the start bundles put."""

    address: str
    events: Any
    bundles: dict[str, Any] = field(default_factory=dict)  # commit -> ObjectRef
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextlib.contextmanager
def connect(spec: RunSpec) -> Iterator[Cluster]:
    """Join the cluster (or start a local Ray for the run); leave it, and what we started."""
    address = spec.ray_address or spec.env.get("RAY_ADDRESS") or None
    scratch = None if address else tempfile.mkdtemp(prefix="genesis-ray-")
    _cluster_news_to_stderr()
    try:
        ray.init(**ray_placement.init_options(spec, address, scratch))
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise EnvironmentProblem(
            f"cannot connect to the Ray cluster at {address or 'a new local Ray'}: {e}; check "
            "--ray-address / RAY_ADDRESS and the cluster's token (RAY_AUTH_TOKEN)"
        ) from None
    try:
        ray_placement.require_slots(address)
        events = Queue(actor_options=ray_placement.QUEUE_OPTIONS)
        yield Cluster(address or "local", events)
    finally:
        ray.shutdown()
        if scratch:
            proc.delete_in_background(Path(scratch))


def _cluster_news_to_stderr() -> None:
    """Ray prints the cluster's error news (a node died) on the driver's stdout, which
    carries `--json`'s result: send it to stderr, with the rest of Ray's talk."""
    from ray._private import worker  # private to Ray: loaded only for this redirection

    show = getattr(worker, "print_worker_logs", None)
    if show is None or not hasattr(worker, "print_to_stdstream"):
        return  # another Ray version: nothing to redirect by this name

    def to_stderr(data: dict[str, Any], ignore_prefix: bool) -> None:
        show(data, sys.stderr, ignore_prefix)

    worker.print_to_stdstream = to_stderr


class RayBackend:
    """Runs each task's attempts on the cluster; one coordinator thread per running task."""

    def __init__(self, spec: RunSpec, pool: ThreadPoolExecutor, cluster: Cluster) -> None:
        self.spec, self.pool, self.cluster = spec, pool, cluster
        self.pump = ray_events.EventPump(cluster.events)
        # one remote function for the run: each ray.remote() is exported to the cluster anew
        self.remote = ray.remote(ray_node.run_on_node)
        self.nodes = ray_placement.Nodes()

    def close(self) -> None:
        """Stop taking events from the nodes."""
        self.pump.close()

    def submit(
        self, task: Task, progress: TaskProgress, cancel: threading.Event, record: Recorder
    ) -> Future[None]:
        """Place the task on the cluster; the Future ends when its last attempt has."""
        return self.pool.submit(self._run, task, progress, cancel, record)

    def _run(
        self, task: Task, progress: TaskProgress, cancel: threading.Event, record: Recorder
    ) -> None:
        progress.started_at = time.time()
        try:
            self._attempts(task, progress, cancel, record)
        except GenesisError as e:  # git failing under one task fails that task, not the run
            _fail(progress, Failure.SETUP, str(e))
        progress.duration_s = time.time() - progress.started_at

    def _attempts(
        self, task: Task, progress: TaskProgress, cancel: threading.Event, record: Recorder
    ) -> None:
        infeasible = self.nodes.infeasible(task)
        if infeasible:
            _fail(progress, Failure.INFEASIBLE, infeasible)
            return
        assert progress.start_commit is not None
        branch_ref = f"refs/heads/{worktrees.branch_name(self.spec.run, task.id)}"
        expected = self._branch_at_start(branch_ref, progress.start_commit)
        made_before = progress.attempts
        while True:
            remaining = task.retries + 1 - (progress.attempts - made_before)
            if remaining <= 0:
                return  # its last attempt was lost with its node
            result = self._place(task, progress, cancel, record, remaining - 1)
            if result is not None:
                self._bring_home(task, progress, result, branch_ref, expected)
                return
            if progress.status == TaskStatus.CANCELLED or cancel.is_set():
                return
            if progress.failure is not Failure.NODE_LOST:
                return

    def _branch_at_start(self, ref: str, start: str) -> str:
        """The task branch at its start commit (as a local run makes it); its commit now."""
        now = gitops.resolve_commit(self.spec.repo.root, ref)
        if now is None:
            gitops.update_ref(self.spec.repo.root, ref, start)
            return start
        return now

    def _place(
        self,
        task: Task,
        progress: TaskProgress,
        cancel: threading.Event,
        record: Recorder,
        left: int,
    ) -> ray_node.NodeResult | None:
        """One placement; its result, or None when its node was lost or it was cancelled."""
        key = f"{task.id}#{progress.attempts}#{time.monotonic_ns()}"
        watcher = self.pump.watch(key, ray_events.Applier(self.spec, task, progress, record))
        job = ray_node.Job(
            key,
            self.spec.run,
            self.spec.plan,
            ray_node.for_node(task, left),
            self.spec.base_commit,
            progress.start_commit or "",
            self._start_bundles(progress.start_commit or ""),
            ray_placement.included_files(self.spec),
            dict(self.spec.git_env),
            progress.attempts,
            progress.port,
            self.cluster.events,
        )
        remote = self.remote.options(**ray_placement.placement(task))
        outcome = _wait(remote.remote(job), cancel)
        return self._settle(task, progress, record, watcher, outcome, cancel)

    def _settle(
        self,
        task: Task,
        progress: TaskProgress,
        record: Recorder,
        watcher: ray_events.Watcher,
        outcome: ray_node.NodeResult | BaseException | None,
        cancel: threading.Event,
    ) -> ray_node.NodeResult | None:
        if isinstance(outcome, ray_node.NodeResult):
            watcher.wait_for(outcome.sent, EVENTS_GRACE_S)
            self.pump.forget(watcher.key)
            if cancel.is_set():  # the coordinator's cancel is final, whatever still came home
                _fail(progress, Failure.CANCELLED, "interrupted")
                return None
            return outcome
        watcher.wait_for(watcher.seen + 1, 0.5)  # events already in the queue
        self.pump.forget(watcher.key)
        if outcome is None or cancel.is_set():
            _fail(progress, Failure.CANCELLED, "interrupted")
            return None
        if isinstance(outcome, LOST):
            n = watcher.attempt_seen or progress.attempts + 1
            if not watcher.attempt_seen:  # lost before its agent started: still one attempt
                progress.attempts = n
                record(task.id, AttemptBegun(n, str(self.spec.log_path(task.id, n))))
            where = watcher.node or "its node"
            record(task.id, Exited(n, None, Failure.NODE_LOST, 0))
            why = f"attempt {n}: {where} was lost ({type(outcome).__name__})"
            _fail(progress, Failure.NODE_LOST, why)
            return None
        cause = getattr(outcome, "cause", None)
        if isinstance(cause, GenesisError):  # git failing on the node fails the task there
            _fail(progress, Failure.SETUP, f"on {watcher.node or 'its node'}: {cause}")
            return None
        first = str(cause or outcome).strip().splitlines()[:1]
        what = type(cause or outcome).__name__
        _fail(progress, Failure.ERROR, f"the Ray task failed: {what}: {''.join(first)}")
        return None

    def _start_bundles(self, start: str) -> tuple[Any, ...]:
        """ObjectRefs of the bundles that hold start: the base's (put once for the run), and
        the start commit's own when dependencies moved it past the base."""
        commits = [self.spec.base_commit]
        if start != self.spec.base_commit:
            commits.append(start)
        with self.cluster.lock:
            for commit in commits:
                if commit not in self.cluster.bundles:
                    exclude = [self.spec.base_commit] if commit != self.spec.base_commit else []
                    self.cluster.bundles[commit] = ray.put(self._bundle(commit, exclude))
            return tuple(self.cluster.bundles[c] for c in commits)

    def _bundle(self, commit: str, exclude: list[str]) -> bytes:
        with tempfile.TemporaryDirectory(dir=self.spec.state_dir) as scratch:
            out = Path(scratch) / "start.bundle"
            bundle.bundle_commit(self.spec.repo.root, commit, out, exclude)
            return out.read_bytes()

    def _bring_home(
        self,
        task: Task,
        progress: TaskProgress,
        result: ray_node.NodeResult,
        branch_ref: str,
        expected: str,
    ) -> None:
        ray_events.apply_fields(progress, result.fields, result.node)
        if result.bundle is None:
            return
        repo = self.spec.repo.root
        with tempfile.TemporaryDirectory(dir=self.spec.state_dir) as scratch:
            path = Path(scratch) / "home.bundle"
            path.write_bytes(result.bundle)
            bundle.fetch_into_incoming(repo, path, result.refs)
        for ref, commit in result.refs.items():
            if ref != branch_ref:  # a failed attempt's work: kept where it is not yet
                gitops.try_update_ref(repo, ref, commit, None)
            elif not gitops.try_update_ref(repo, ref, commit, expected):
                kept = f"refs/genesis/{self.spec.run}/{task.id}/attempt-{progress.attempts}"
                gitops.try_update_ref(repo, kept, commit, None)
                _fail(
                    progress,
                    Failure.COMMIT,
                    f"{ref} moved while the task ran on {result.node}: the branch was not "
                    f"overwritten; its work is kept under {kept} (commit {commit[:12]})",
                )


def _wait(ref: Any, cancel: threading.Event) -> ray_node.NodeResult | BaseException | None:
    """The placement's result or its error; None when cancelled (soft, then forced)."""
    cancelled_at: float | None = None
    while True:
        ready, _ = ray.wait([ref], timeout=TICK_S)
        if ready:
            try:
                result: ray_node.NodeResult = ray.get(ref)
                return result
            except ray.exceptions.TaskCancelledError:
                return None
            except ray.exceptions.RayError as e:
                return e
        if cancel.is_set() and cancelled_at is None:
            cancelled_at = time.monotonic()
            ray.cancel(ref)
        if cancelled_at is not None and time.monotonic() - cancelled_at > CANCEL_GRACE_S:
            ray.cancel(ref, force=True)
            return None


def _fail(progress: TaskProgress, failure: Failure, reason: str) -> None:
    cancelled = failure is Failure.CANCELLED
    progress.status = TaskStatus.CANCELLED if cancelled else TaskStatus.FAILED
    progress.failure = None if cancelled else failure
    progress.reason = reason
