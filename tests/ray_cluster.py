"""A local multi-node Ray cluster for the ray backend's tests (a fixtures module).

Head plus two agent nodes, each on its own loopback address (Ray rewrites 127.0.0.1 to the
machine's interface address when a driver connects, so 127.0.0.2-.4), with token auth and a
fresh token, in a private RAY_TMPDIR, ended by pid: never `ray stop`, which kills every Ray
process on the machine by name, other users' included.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PACKAGE_ROOT

if importlib.util.find_spec("ray") is None:  # not imported here: Ray reads its auth settings once
    pytest.skip(
        "the ray extra is not installed (pip install 'genesis-par[ray]')", allow_module_level=True
    )

HEAD_IP = "127.0.0.2"
NODE_IPS = ("127.0.0.3", "127.0.0.4")
SPARE_IP = "127.0.0.5"  # a node added after one was killed
MiB = 1024 * 1024


@dataclass
class RayCluster:
    """The cluster, its address, and which node a raylet pid belongs to."""

    cluster: Any
    address: str
    cache: Path
    spare_used: bool = False

    def nodes(self) -> list[Any]:
        """The agent nodes (the head takes no agents)."""
        return [n for n in self.cluster.list_all_nodes() if n is not self.cluster.head_node]

    def node_of_raylet(self, pid: int) -> Any:
        """The node whose raylet has this pid (RAY_RAYLET_PID in an agent's environment)."""
        for node in self.nodes():
            if _raylet_pid(node) == pid:
                return node
        raise AssertionError(f"no node of the cluster has raylet pid {pid}")

    def kill_node(self, node: Any) -> None:
        """Kill a node at once (no grace), as a machine that died; add a spare in its place."""
        pids = _pids(node)
        self.cluster.remove_node(node, allow_graceful=False)
        _kill(pids)
        ip = SPARE_IP if not self.spare_used else "127.0.0.6"
        self.spare_used = True
        add_agent_node(self.cluster, ip)


def _raylet_pid(node: Any) -> int | None:
    infos = node.all_processes.get("raylet") or []
    return infos[0].process.pid if infos else None


def _pids(node: Any) -> list[int]:
    return [
        info.process.pid
        for infos in node.all_processes.values()
        for info in infos
        if info.process is not None
    ]


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def add_agent_node(cluster: Any, ip: str, slots: int = 1) -> Any:
    """A node that takes `slots` agents."""
    return cluster.add_node(
        node_ip_address=ip,
        num_cpus=slots,
        resources={"genesis_agent": slots},
        object_store_memory=80 * MiB,
        include_dashboard=False,
    )


@contextlib.contextmanager
def local_cluster(slots: int = 1, nodes: tuple[str, ...] = NODE_IPS) -> Iterator[RayCluster]:
    """Head + agent nodes on loopback; every process of it ended by pid afterwards."""
    temp = Path(tempfile.mkdtemp(prefix="gr-", dir="/tmp"))  # short: Ray's socket paths
    (temp / "ray").mkdir()  # RAY_TMPDIR/ray: where Ray writes the cluster's address
    saved = dict(os.environ)
    os.environ.update(
        {
            "RAY_TMPDIR": str(temp),
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(32),
            # the nodes' workers import this checkout's genesis_par, and keep their caches here
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(PACKAGE_ROOT), saved.get("PYTHONPATH")])
            ),
            "GENESIS_RAY_CACHE": str(temp / "cache"),
        }
    )
    try:
        cluster = _start(temp, nodes, slots)
        try:
            yield RayCluster(cluster, cluster.address, temp / "cache")
        finally:
            _stop(cluster, temp)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(temp, ignore_errors=True)


def _start(temp: Path, nodes: tuple[str, ...], slots: int, tries: int = 2) -> Any:
    """The cluster, started again once if a node did not come up: Ray gives a raylet 30 s to
    register, which a machine under heavy load (the whole suite beside it) can miss."""
    from ray.cluster_utils import Cluster  # after the auth settings: Ray reads them once

    for attempt in range(1, tries + 1):
        cluster: Any = Cluster()
        try:
            cluster.add_node(
                node_ip_address=HEAD_IP,
                num_cpus=0,
                object_store_memory=80 * MiB,
                include_dashboard=False,
                temp_dir=str(temp / "ray"),
            )
            for ip in nodes:
                add_agent_node(cluster, ip, slots)
            cluster.wait_for_nodes()
            return cluster
        except Exception:
            _stop(cluster, temp)
            if attempt == tries:
                raise
    raise AssertionError("unreachable")


def _stop(cluster: Any, temp: Path) -> None:
    """Shut the cluster down, then kill by pid whatever of it is left: its nodes' processes,
    and any process started with our private temp folder on its command line (a node that
    failed to start is not in the cluster's list)."""
    pids = [p for n in cluster.list_all_nodes() for p in _pids(n)]
    with contextlib.suppress(Exception):
        cluster.shutdown()
    _kill(pids + _started_under(temp))


def _started_under(temp: Path) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(OSError):
                if str(temp).encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
    return found
