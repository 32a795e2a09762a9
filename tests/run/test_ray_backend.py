"""The ray backend on a local multi-node Ray cluster: real nodes, real git, real signals.

One cluster (head + 2 agent nodes of one slot each, on 127.0.0.2-.4) serves the whole module;
the tests run in one xdist group so that only one cluster is ever up. Skipped when the ray
extra is not installed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import genesis_cmd, genesis_env, git, wait_for
from tests.plans import write_plan
from tests.ray_cluster import RayCluster, local_cluster

pytestmark = [pytest.mark.xdist_group("ray-cluster"), pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    with local_cluster() as c:
        yield c


def genesis(
    repo: Path, *args: str, check_json: bool = True
) -> tuple[int, dict[str, Any] | None, str]:
    """genesis-par in a subprocess (the Ray driver), in repo; code, JSON result, stderr."""
    done = subprocess.run(
        [*genesis_cmd(), *args, "--json"],
        cwd=repo,
        env=genesis_env(),
        capture_output=True,
        text=True,
        timeout=200,
    )
    result = json.loads(done.stdout) if done.stdout.strip() else None
    return done.returncode, result, done.stderr


def tasks_of(result: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """A run result's tasks by id (JSON: Any is what it is)."""
    assert result is not None
    return {t["id"]: t for t in result["tasks"]}


def _recorded_attempts(repo: Path, task: str) -> int:
    """How many attempts of task the run's state holds now (0 before the first)."""
    _, result, _ = genesis(repo, "status")
    return int(tasks_of(result)[task]["attempts"] or 0) if result else 0


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")


# Each task waits until both have started (bounded), so that they run at once: with one slot
# per node, Ray must place them on different nodes.
BARRIER = """
import os, pathlib, sys, time
print("hello from", os.environ["GENESIS_TASK"], flush=True)
here = pathlib.Path(sys.argv[1])
here.mkdir(exist_ok=True)
(here / os.environ["GENESIS_TASK"]).write_text(os.environ.get("RAY_RAYLET_PID", "local"))
deadline = time.monotonic() + 60
while len(list(here.iterdir())) < 2 and time.monotonic() < deadline:
    time.sleep(0.05)
pathlib.Path(os.environ["GENESIS_TASK"] + ".txt").write_text("work of " + os.environ["GENESIS_TASK"] + "\\n")
"""


def _barrier_plan(repo: Path, barrier: Path, file: str) -> Path:
    script = repo.parent / "barrier.py"
    script.write_text(textwrap.dedent(BARRIER))
    command = json.dumps([sys.executable, str(script), str(barrier)])
    return write_plan(
        repo,
        f"""
        [[tasks]]
        id = "left"
        command = {command}

        [[tasks]]
        id = "right"
        command = {command}

        [[tasks]]
        id = "after"
        depends_on = ["left", "right"]
        command = "cat left.txt right.txt > both.txt"
        """,
        name=file,
        header='[run]\nname = "plan"\nmax_parallel = 2\n',
    )


def test_branches_come_home_from_both_nodes_with_the_trees_of_a_local_run(
    cluster: RayCluster, repo: Path, tmp_path: Path
) -> None:
    local_repo = tmp_path / "local"
    git(tmp_path, "clone", "-q", str(repo), str(local_repo))
    plan = _barrier_plan(repo, tmp_path / "barrier-ray", "ray.toml")
    local_plan = _barrier_plan(local_repo, tmp_path / "barrier-local", "local.toml")

    code, result, err = genesis(
        repo, "run", str(plan), "--backend", "ray", "--ray-address", cluster.address, "--no-merge"
    )
    assert code == 0, err
    local_code, _, local_err = genesis(local_repo, "run", str(local_plan), "--no-merge")
    assert local_code == 0, local_err

    tasks = tasks_of(result)
    assert {tasks["left"]["node"], tasks["right"]["node"]} == {"127.0.0.3", "127.0.0.4"}
    raylets = {(tmp_path / "barrier-ray" / t).read_text() for t in ("left", "right")}
    assert len(raylets) == 2  # two nodes' raylets ran them
    for task in ("left", "right", "after"):
        ref = f"genesis/plan/{task}^{{tree}}"
        assert git(repo, "rev-parse", ref) == git(local_repo, "rev-parse", ref), task
    assert git(repo, "show", "genesis/plan/after:both.txt") == "work of left\nwork of right"
    log = Path(str(tasks["left"]["log"]))
    assert log.parent.parent.parent == repo / ".git" / "genesis-par"
    assert "hello from left" in log.read_text()  # the node's log came home


# The agent starts a grandchild in a session of its own (out of its process group), writes
# both pids and hangs; the timeout must stop the whole tree on its node.
SETSID_AGENT = """
import os, pathlib, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
ready = pathlib.Path(sys.argv[1] + ".tmp")
ready.write_text(f"{os.getpid()} {child.pid}")
ready.replace(sys.argv[1])  # whole: the test reads it as soon as it exists
time.sleep(600)
"""


def test_a_setsid_grandchild_is_gone_after_a_timeout(
    cluster: RayCluster, repo: Path, tmp_path: Path
) -> None:
    script, pids = tmp_path / "agent.py", tmp_path / "pids"
    script.write_text(textwrap.dedent(SETSID_AGENT))
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "hang"
        timeout = "3s"
        command = {json.dumps([sys.executable, str(script), str(pids)])}
        """,
    )
    code, result, err = genesis(
        repo, "run", str(plan), "--backend", "ray", "--ray-address", cluster.address
    )
    assert code == 1, err
    task = tasks_of(result)["hang"]
    assert task["failure"] == "timeout", task
    assert task["node"] in ("127.0.0.3", "127.0.0.4")
    agent, grandchild = map(int, pids.read_text().split())
    wait_for(lambda: gone(agent) and gone(grandchild), "the agent's tree to be gone", 15)


def test_a_setsid_grandchild_is_gone_after_ctrl_c(
    cluster: RayCluster, repo: Path, tmp_path: Path
) -> None:
    script, pids = tmp_path / "agent.py", tmp_path / "pids"
    script.write_text(textwrap.dedent(SETSID_AGENT))
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "hang"
        command = {json.dumps([sys.executable, str(script), str(pids)])}
        """,
    )
    coordinator = _start(
        repo, "run", str(plan), "--backend", "ray", "--ray-address", cluster.address
    )
    try:
        wait_for(pids.exists, "the agent to start on a node", 90)
        agent, grandchild = map(int, pids.read_text().split())
        coordinator.send_signal(signal.SIGINT)
        out, err = coordinator.communicate(timeout=60)
    finally:
        if coordinator.poll() is None:
            coordinator.kill()
    assert coordinator.returncode == 130, err
    assert tasks_of(json.loads(out))["hang"]["status"] == "cancelled"
    wait_for(lambda: gone(agent) and gone(grandchild), "the agent's tree to be gone", 15)


def test_a_task_no_node_can_run_fails_at_once(cluster: RayCluster, repo: Path) -> None:
    plan = write_plan(
        repo,
        """
        [[tasks]]
        id = "gpu"
        command = "true"
        resources = { gpu = 1 }

        [[tasks]]
        id = "fine"
        command = "echo ok > ok.txt"
        """,
    )
    code, result, err = genesis(
        repo, "run", str(plan), "--backend", "ray", "--ray-address", cluster.address
    )
    assert code == 1, err
    tasks = tasks_of(result)
    assert tasks["gpu"]["failure"] == "infeasible"
    assert "no node of the Ray cluster can ever run it" in str(tasks["gpu"]["reason"])
    assert "GPU 1" in str(tasks["gpu"]["reason"])
    assert float(tasks["gpu"]["duration_s"]) < 2
    assert tasks["fine"]["status"] == "succeeded"


# The first run of the agent writes its pids and its node's raylet pid, then hangs; a later
# run finishes at once. Every run appends a line to `runs`: work done twice would show.
ONCE_AGENT = """
import os, pathlib, subprocess, sys, time
runs = pathlib.Path(sys.argv[1])
with runs.open("a") as handle:
    handle.write(os.environ.get("RAY_RAYLET_PID", "?") + "\\n")
if len(runs.read_text().splitlines()) > 1:
    pathlib.Path("done.txt").write_text("finished\\n")
    raise SystemExit(0)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
ready = pathlib.Path(sys.argv[2])
ready.with_suffix(".tmp").write_text(f"{os.getpid()} {child.pid} {os.environ['RAY_RAYLET_PID']}")
ready.with_suffix(".tmp").rename(ready)
time.sleep(600)
"""


def _once_plan(repo: Path, tmp_path: Path, retries: int) -> tuple[Path, Path, Path]:
    script, runs, ready = tmp_path / "once.py", tmp_path / "runs", tmp_path / "ready"
    script.write_text(textwrap.dedent(ONCE_AGENT))
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "work"
        retries = {retries}
        command = {json.dumps([sys.executable, str(script), str(runs), str(ready)])}
        """,
    )
    return plan, runs, ready


def _start(repo: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*genesis_cmd(), *args, "--json"],
        cwd=repo,
        env=genesis_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_lost_node_fails_its_attempt_node_lost_and_the_retry_runs_once_elsewhere(
    cluster: RayCluster, repo: Path, tmp_path: Path
) -> None:
    plan, runs, ready = _once_plan(repo, tmp_path, retries=1)
    coordinator = _start(
        repo, "run", str(plan), "--backend", "ray", "--ray-address", cluster.address
    )
    try:
        wait_for(ready.exists, "the agent to start on a node", 90)
        agent, grandchild, raylet = map(int, ready.read_text().split())
        # the node's events come in batches: killed before its placement reached the
        # coordinator, the node's "placed" event is lost with it
        wait_for(lambda: any(k == "placed" for k, _ in _events(repo)), "the placement", 30)
        lost = cluster.node_of_raylet(raylet)
        lost_ip = lost.node_ip_address
        cluster.kill_node(lost)
        out, err = coordinator.communicate(timeout=150)
    finally:
        if coordinator.poll() is None:
            coordinator.kill()
    assert coordinator.returncode == 0, err
    task = tasks_of(json.loads(out))["work"]
    assert task["status"] == "succeeded" and task["attempts"] == 2, task
    assert task["node"] != lost_ip
    assert len(runs.read_text().splitlines()) == 2  # once on the lost node, once elsewhere
    assert git(repo, "show", "genesis/plan/work:done.txt") == "finished"
    wait_for(lambda: gone(agent) and gone(grandchild), "the lost node's agent tree to end", 30)
    code, _status, _ = genesis(repo, "status")
    assert code == 0
    events = _events(repo)
    exits = [d for kind, d in events if kind == "exited"]
    assert exits[0]["failure"] == "node-lost" and exits[0]["n"] == 1
    assert next(d["node"] for kind, d in events if kind == "placed") == lost_ip


def _events(repo: Path) -> list[tuple[str, dict[str, Any]]]:
    from genesis_par.state.store import Store

    with Store.open(repo / ".git" / "genesis-par", read_only=True) as store:
        return [
            (kind, json.loads(data)) for t, kind, data in store.task_events("plan") if t == "work"
        ]


def test_a_killed_coordinator_leaves_no_agent_on_any_node_and_resume_finishes(
    cluster: RayCluster, repo: Path, tmp_path: Path
) -> None:
    plan, runs, ready = _once_plan(repo, tmp_path, retries=0)
    coordinator = _start(
        repo, "run", str(plan), "--backend", "ray", "--ray-address", cluster.address
    )
    try:
        wait_for(ready.exists, "the agent to start on a node", 90)
        agent, grandchild, _ = map(int, ready.read_text().split())
        # killed once the coordinator has recorded the attempt (its events come in batches);
        # killed before, it would not know of attempt 1, and resume would number it 1 again
        wait_for(lambda: _recorded_attempts(repo, "work") >= 1, "the attempt recorded", 30)
        coordinator.send_signal(signal.SIGKILL)
        coordinator.communicate(timeout=30)
    finally:
        if coordinator.poll() is None:
            coordinator.kill()
    wait_for(lambda: gone(agent) and gone(grandchild), "the agent tree to end on its node", 60)

    code, result, err = genesis(
        repo, "resume", "--backend", "ray", "--ray-address", cluster.address
    )
    assert code == 0, err
    task = tasks_of(result)["work"]
    assert task["status"] == "succeeded" and task["attempts"] == 2, task
    assert len(runs.read_text().splitlines()) == 2
    assert git(repo, "show", "genesis/plan/work:done.txt") == "finished"
