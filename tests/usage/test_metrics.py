"""`run --metrics FILE`: a Prometheus text file that parses with prometheus_client's own
parser at any moment of a real run, and says what the run is doing."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from genesis_par.commands import run as run_cmd
from genesis_par.errors import UsageError
from tests.conftest import genesis_cmd, genesis_env, wait_for
from tests.plans import PY, write_plan
from tests.usage.samples import OUTPUT

# prints claude's stream-json (the result says $0.0421), then waits for its go file
WAITING_CLAUDE = """
import os, sys, time
sys.stdout.write(open(sys.argv[1]).read())
sys.stdout.flush()
deadline = time.monotonic() + 60
while not os.path.exists(sys.argv[2]) and time.monotonic() < deadline:
    time.sleep(0.05)
"""
DECLARING = """
import json, os, sys, time
json.dump(dict(input_tokens=100, output_tokens=50, cost_usd=0.5), open(os.environ["GENESIS_USAGE_FILE"], "w"))
deadline = time.monotonic() + 60
while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
    time.sleep(0.05)
"""

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(path: Path) -> Samples:
    """Every sample of the file (the parser raises on anything that is not the format)."""
    out: Samples = {}
    for family in text_string_to_metric_families(path.read_text()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((f"genesis_par_{name}", frozenset({"run": "m", **labels}.items())))


class Reader(threading.Thread):
    """Reads and parses the file as fast as it can while the run goes on."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path, self.stop = path, threading.Event()
        self.parsed, self.errors = 0, []  # type: ignore[var-annotated]
        self.latest: Samples = {}

    def run(self) -> None:
        while not self.stop.is_set():
            if self.path.exists():
                try:
                    self.latest = parse(self.path)
                    self.parsed += 1
                except Exception as e:  # any failure to parse is the finding
                    self.errors.append(repr(e))


@pytest.mark.timeout(120)
def test_the_metrics_file_parses_at_every_moment_and_follows_the_run(
    repo: Path, tmp_path: Path
) -> None:
    out, script, declaring = tmp_path / "claude.out", tmp_path / "c.py", tmp_path / "d.py"
    out.write_text("\n".join(OUTPUT["claude"]) + "\n")
    script.write_text(WAITING_CLAUDE)
    declaring.write_text(DECLARING)
    go_a, go_b = tmp_path / "go-a", tmp_path / "go-b"
    plan = write_plan(
        repo,
        f"""
        [agents.claude]
        command = {json.dumps([PY, str(script), str(out), str(go_a)])}
        [[tasks]]
        id = "a"
        agent = "claude"
        prompt = "go"
        [[tasks]]
        id = "b"
        command = {json.dumps([PY, str(declaring), str(go_b)])}
        """,
        header='[run]\nname = "m"\nmax_parallel = 1\nstrategy = "fifo"\n',
    )
    metrics = tmp_path / "metrics" / "genesis.prom"
    metrics.parent.mkdir()
    reader = Reader(metrics)
    reader.start()
    argv = [*genesis_cmd(), "run", str(plan), "--json", "--metrics", str(metrics)]
    with subprocess.Popen(
        argv, cwd=repo, env=genesis_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as child:
        try:
            # a runs and has printed its result: its cost is counted live; b waits
            wait_for(lambda: value(reader.latest, "cost_usd") == 0.0421, "a's live cost", 60)
            now = reader.latest
            assert value(now, "tasks", state="running") == 1
            assert value(now, "tasks", state="pending") == 1
            assert value(now, "running_agents") == 1
            assert (value(now, "agent_memory_bytes", task="a") or 0) > 0
            assert value(now, "agent_cpu_percent", task="a") is not None
            assert value(now, "tokens", direction="input") == 26132
            assert value(now, "merge_queue_length") == 0
            go_a.touch()
            wait_for(lambda: value(reader.latest, "cost_usd") == 0.5421, "b's cost", 60)
            now = reader.latest
            assert value(now, "tasks", state="succeeded") == 1
            assert value(now, "agent_memory_bytes", task="a") is None  # a no longer runs
            assert value(now, "merge_queue_length") == 1  # a waits for the merge queue
            go_b.touch()
            child.wait(timeout=60)
        finally:
            go_a.touch()
            go_b.touch()
    reader.stop.set()
    reader.join(timeout=10)
    assert child.returncode == 0
    final = parse(metrics)
    assert value(final, "tasks", state="succeeded") == 2
    assert value(final, "running_agents") == 0
    assert value(final, "merge_queue_length") == 0  # merged
    assert value(final, "tokens", direction="output") == 300 + 50
    assert (value(final, "tasks_finished_per_minute") or 0) > 0
    assert reader.errors == [] and reader.parsed > 10
    assert [p.name for p in metrics.parent.iterdir()] == ["genesis.prom"]  # no temporary left


def test_an_unwritable_metrics_path_is_refused_before_the_run(repo: Path, tmp_path: Path) -> None:
    plan = write_plan(repo, '[[tasks]]\nid = "t"\ncommand = "true"\n')
    with pytest.raises(UsageError, match=r"--metrics .*: cannot write there") as error:
        run_cmd.run(repo, plan, metrics=tmp_path / "no" / "such" / "folder" / "m.prom")
    assert error.value.exit_code == 2
