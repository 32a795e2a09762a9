"""The node side of the Ray backend: one attempt run where Ray placed it.

The task's pipeline is the local one (task.run_task: setup, agent under the supervisor
and its limits, check, commit), run against a node-local repository that caches every start commit
the node has received (bundles from the object store, fetched once) and pools its
worktrees. The new commits go home as a bundle; events and log lines stream to the
coordinator through a Ray queue while the attempt runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ray

from genesis_par import gitops, worktrees
from genesis_par.errors import GenesisError
from genesis_par.gitops import bundle
from genesis_par.model import EventKind
from genesis_par.plan.model import Plan, Task
from genesis_par.run.progress import TaskProgress
from genesis_par.run.spec import RunSpec
from genesis_par.run.task import run_task
from genesis_par.state.events import TaskEnded, TaskEvent, event_data
from genesis_par.worktrees.pool import discard, put_in_pool

CACHE_ENV = "GENESIS_RAY_CACHE"  # where a node keeps its cache (default ~/.cache/genesis-par/ray)
LOG_TICK_S = 0.25
SEND_TICK_S = 0.05


@dataclass(frozen=True)
class Job:
    """One placement of a task: everything its node needs, nothing of the user's checkout."""

    key: str  # names this placement in the event stream
    run: str
    plan: Plan
    task: Task  # retries: what is left of the plan's
    base_commit: str
    start_commit: str
    bundles: tuple[Any, ...]  # ObjectRefs of bundles that together hold start_commit
    included: tuple[tuple[str, bytes], ...]  # .worktreeinclude files, sent with the attempt
    git_env: Mapping[str, str]
    attempts_before: int
    port: int
    events: Any  # ray.util.queue.Queue to the coordinator


@dataclass(frozen=True)
class NodeResult:
    """What comes home from a node: the task's outcome, its commits, how many events it sent."""

    fields: dict[str, object]
    bundle: bytes | None
    refs: dict[str, str]  # the refs the bundle holds
    sent: int
    node: str
    node_id: str


class _Sender:
    """Sends (key, kind, data) to the coordinator's queue in batches, every SEND_TICK_S, from
    a thread of its own: the attempt never waits on the network. Counts what it sent."""

    def __init__(self, job: Job) -> None:
        self.job, self.sent = job, 0
        self.waiting: list[tuple[str, str, dict[str, object]]] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def __call__(self, task: str, event: TaskEvent) -> None:
        self.send(str(event.kind), event_data(event))

    def send(self, kind: str, data: dict[str, object]) -> None:
        """Queue one event (an EventKind, or this backend's own: placed, log)."""
        with self.lock:
            self.waiting.append((self.job.key, kind, data))

    def _loop(self) -> None:
        while not self.done.wait(SEND_TICK_S):
            self._flush()

    def _flush(self) -> None:
        with self.lock:
            batch, self.waiting = self.waiting, []
        if not batch:
            return
        try:
            self.job.events.put_nowait_batch(batch)
        except ray.exceptions.RayError:  # the coordinator is gone: its cancel is on its way
            return
        self.sent += len(batch)

    def close(self) -> int:
        """Send what is left; how many events were sent in all."""
        self.done.set()
        self.thread.join()
        self._flush()
        return self.sent


def run_on_node(job: Job) -> NodeResult:
    """Run the job's attempts here; what comes home."""
    context = ray.get_runtime_context()
    node_id, node = context.get_node_id(), ray.util.get_node_ip_address()
    send = _Sender(job)
    send.send(str(EventKind.PLACED), {"node": node, "node_id": node_id, "pid": os.getpid()})
    root = _node_dir(node_id)
    with _locked(root / "cache.lock"):
        repo = _prepare(root, job)
    spec = RunSpec(
        repo,
        job.plan,
        job.run,
        job.base_commit,
        root / "state",
        dict(job.git_env),
        gitops.without_repository_variables(os.environ),
        tuple(name for name, _ in job.included),
    )
    progress = TaskProgress(
        job.task.id, attempts=job.attempts_before, start_commit=job.start_commit, port=job.port
    )
    try:
        _run_interruptibly(spec, job.task, progress, send)
    finally:
        sent = send.close()
    found, refs = _bundle_home(spec, job.task, progress)
    _release(spec, job.task)
    return NodeResult(event_data(TaskEnded(progress.record())), found, refs, sent, node, node_id)


def _node_dir(node_id: str) -> Path:
    """This node's folder: one per Ray node, even when two share a machine (tests)."""
    base = os.environ.get(CACHE_ENV) or str(Path.home() / ".cache" / "genesis-par" / "ray")
    path = Path(base) / node_id[:16]
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One attempt at a time fills the node's cache (two slots of one node share it)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prepare(root: Path, job: Job) -> gitops.RepoPaths:
    """The node's cache repository holding the start commit and the included files."""
    repo_root = root / "repo"
    if not (repo_root / ".git").is_dir():
        bundle.init_cache(repo_root)
    repo = gitops.RepoPaths(repo_root, repo_root / ".git")
    if gitops.resolve_commit(repo_root, job.start_commit) is None:
        for ref in job.bundles:  # the base first, then what dependencies added
            data: bytes = ray.get(ref)
            with tempfile.NamedTemporaryFile(dir=root, suffix=".bundle") as handle:
                handle.write(data)
                handle.flush()
                heads = bundle.bundle_heads(Path(handle.name), repo_root)
                refs = [f"{r}:refs/genesis/cache/{sha}" for r, sha in heads.items()]
                bundle.fetch_bundle(repo_root, Path(handle.name), refs)
    for name, content in job.included:
        target = repo_root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return repo


def _run_interruptibly(spec: RunSpec, task: Task, progress: TaskProgress, send: _Sender) -> None:
    """run_task on a thread, so that Ray's cancel (raised in this one) reaches the agent's
    tree: a thread blocked waiting on a process never sees it (stopped gracefully, its
    partial work can still come home)."""
    cancel = threading.Event()
    worker = threading.Thread(
        target=run_task, args=(spec, task, progress, cancel, send), daemon=True
    )
    logs = _LogStream(spec, task.id, progress, send)
    worker.start()
    try:
        while worker.is_alive():
            try:
                worker.join(0.1)
            except (KeyboardInterrupt, ray.exceptions.TaskCancelledError):
                cancel.set()
    finally:
        logs.close()


class _LogStream:
    """Sends the new bytes of the attempts' logs every LOG_TICK_S (for `logs --follow`)."""

    def __init__(self, spec: RunSpec, task: str, progress: TaskProgress, send: _Sender) -> None:
        self.spec, self.task, self.progress, self.send = spec, task, progress, send
        self.first = progress.attempts + 1
        self.offsets: dict[int, int] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.done.wait(LOG_TICK_S):
            self._flush()

    def _flush(self) -> None:
        for n in range(self.first, max(self.progress.attempts, self.first) + 1):
            path = self.spec.log_path(self.task, n)
            offset = self.offsets.get(n, 0)
            with contextlib.suppress(OSError), path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
                if data:
                    self.offsets[n] = offset + len(data)
                    self.send.send("log", {"n": n, "data": data})

    def close(self) -> None:
        """Stop, after sending what is left."""
        self.done.set()
        self.thread.join()
        self._flush()


def _bundle_home(
    spec: RunSpec, task: Task, progress: TaskProgress
) -> tuple[bytes | None, dict[str, str]]:
    """The task's branch and attempt refs, less the start commit's history, as bundle bytes."""
    assert progress.start_commit is not None
    repo = spec.repo.root
    refs = [f"refs/heads/{worktrees.branch_name(spec.run, task.id)}"]
    refs += gitops.ref_names(repo, f"refs/genesis/{spec.run}/{task.id}/")
    refs = sorted(gitops.existing_refs(repo, refs))
    with tempfile.TemporaryDirectory(dir=spec.repo.root.parent) as scratch:
        out = Path(scratch) / "home.bundle"
        if not bundle.bundle_refs(repo, refs, out, [progress.start_commit]):
            return None, {}
        heads = bundle.bundle_heads(out, repo)
        return out.read_bytes(), heads


def _release(spec: RunSpec, task: Task) -> None:
    """Pool the task's node-local worktree (or remove it) and drop its refs here: a later
    placement of the same task on this node starts afresh."""
    repo = spec.repo
    path = worktrees.path_for(repo.root, spec.run, task.id)
    with contextlib.suppress(GenesisError, OSError):
        if path.exists() and (
            not gitops.is_clean(path) or put_in_pool(repo, path, time.time()) is not None
        ):
            discard(repo, path)
    branch = f"refs/heads/{worktrees.branch_name(spec.run, task.id)}"
    for ref in [branch, *gitops.ref_names(repo.root, f"refs/genesis/{spec.run}/{task.id}/")]:
        with contextlib.suppress(GenesisError):
            gitops.delete_ref(repo.root, ref)


def for_node(task: Task, retries: int) -> Task:
    """The task as a node runs it: its prompt travels as text, its retries are what is left."""
    return replace(task, prompt_file=None, retries=retries)
