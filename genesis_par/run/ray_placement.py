"""Where on a Ray cluster an attempt may run: joining it, its slots, each task's needs."""

from __future__ import annotations

import logging
import threading
from typing import Any

import ray

from genesis_par.errors import EnvironmentProblem
from genesis_par.plan import values as plan_values
from genesis_par.plan.model import Task
from genesis_par.run.spec import RunSpec

SLOT = "genesis_agent"  # one per attempt; a node offers as many as agents it takes
# Ray kills a worker's children when the worker exits, genesis-par's supervisor (warden or
# shim) first, which would leave the agent's tree unsupervised (a setsid grandchild survived
# every time): the supervisor stops the whole tree itself when its parent goes, so Ray must
# leave it alone.
RUNTIME_ENV_VARS = {"RAY_kill_child_processes_on_worker_exit": "0"}
RAY_NAMES = {"gpu": "GPU"}  # plan names Ray spells otherwise
# The event queue lives on the head node, which outlives the nodes that run agents: a queue
# on a node that dies would take every attempt's events with it.
QUEUE_OPTIONS = {"num_cpus": 0, "resources": {"node:__internal_head__": 0.001}}


def init_options(spec: RunSpec, address: str | None, scratch: str | None) -> dict[str, Any]:
    """ray.init's arguments: join address, or start a private local Ray in scratch."""
    options: dict[str, Any] = {
        "runtime_env": {"env_vars": dict(RUNTIME_ENV_VARS)},
        "namespace": "genesis-par",
        "log_to_driver": False,  # agents' output goes to their logs, never to our stdout
        "logging_level": logging.WARNING,
    }
    if address:
        return {**options, "address": address}
    # "local": never join another user's cluster found on this machine
    return {
        **options,
        "address": "local",
        "resources": {SLOT: spec.plan.run.max_parallel},
        "include_dashboard": False,
        "_temp_dir": scratch,
    }


def require_slots(address: str | None) -> None:
    """Refuse a cluster none of whose nodes takes agents."""
    if ray.cluster_resources().get(SLOT, 0) < 1:
        raise EnvironmentProblem(
            f"no node of the Ray cluster at {address} offers {SLOT} slots: start each node "
            f"that may run agents with `ray start ... --resources='{{\"{SLOT}\": 4}}'` "
            "(the number of agents it takes)"
        )


def needs(task: Task) -> dict[str, float]:
    """The Ray resources one attempt of the task reserves."""
    wanted = {SLOT: 1.0}
    if task.cpu:
        wanted["CPU"] = task.cpu
    if task.memory_bytes:
        wanted["memory"] = float(task.memory_bytes)
    for name, amount in task.resources:
        wanted[RAY_NAMES.get(name, name)] = amount
    return wanted


def placement(task: Task) -> dict[str, Any]:
    """ray.remote options of one attempt: its reservation, and no retry by Ray itself (a
    re-run elsewhere would do the work twice; the plan's retries decide)."""
    wanted = needs(task)
    custom = {k: v for k, v in wanted.items() if k not in ("CPU", "memory", "GPU")}
    options: dict[str, Any] = {
        "num_cpus": wanted.get("CPU", 0),  # reservations only: the limits are enforced on the node
        "resources": custom,
        "max_retries": 0,
        "retry_exceptions": False,
    }
    if "memory" in wanted:
        options["memory"] = int(wanted["memory"])
    if "GPU" in wanted:
        options["num_gpus"] = wanted["GPU"]
    return options


class Nodes:
    """What the cluster's live nodes offer, asked once and again only when a task fits none
    (a node may have joined since)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.known: list[dict[str, float]] | None = None

    def infeasible(self, task: Task) -> str | None:
        """Why no live node of the cluster could ever run the task, or None."""
        wanted = needs(task)
        with self.lock:
            if self.known is not None and _fits(wanted, self.known):
                return None
            self.known = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
            if _fits(wanted, self.known):
                return None
            return _unfit(wanted, self.known)


def _fits(wanted: dict[str, float], nodes: list[dict[str, float]]) -> bool:
    return any(all(node.get(k, 0) >= v for k, v in wanted.items()) for node in nodes)


def _unfit(wanted: dict[str, float], nodes: list[dict[str, float]]) -> str:
    largest = {k: max((node.get(k, 0) for node in nodes), default=0) for k in wanted}
    return (
        f"no node of the Ray cluster can ever run it: an attempt needs {_text(wanted)}, the "
        f"most any node offers is {_text(largest)}; lower the task's cpu, memory or "
        "resources, or add a node that has them"
    )


def _text(amounts: dict[str, float]) -> str:
    shown = []
    for name, amount in amounts.items():
        if name == "memory":
            shown.append(f"memory {plan_values.format_size(int(amount))}")
        else:
            shown.append(f"{name} {amount:g}")
    return ", ".join(shown)


def included_files(spec: RunSpec) -> tuple[tuple[str, bytes], ...]:
    """The .worktreeinclude files, read to go with each attempt (never the whole checkout)."""
    found = []
    for name in spec.included:
        path = spec.repo.root / name
        if path.is_file():
            found.append((name, path.read_bytes()))
    return tuple(found)
