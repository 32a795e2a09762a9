"""`validate --resolved`: the plan with every default filled in, as TOML that reads back as
the same plan."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

from genesis_par.plan.model import MergeSettings, Plan, RunSettings, Task
from genesis_par.plan.parse import load, loads
from genesis_par.plan.resolved import resolved

# every setting away from its default, so the round trip below covers each of them
RICH = """
version = 1
[run]
name = "rich"
base = "main"
max_parallel = 3
strategy = "priority"
setup = ["make", "deps"]
pool = false
isolation = "clone"
budget_usd = 12.5
backend = "ray"

[merge]
into = "integration/{run}"
method = "squash"
check = "make test"
timeout = "1h30m"
on_conflict = "agent"
rerun_limit = 3
resolver = ["fix-conflicts", "{prompt}"]
batch = 4
parallel_checks = 2
check_retries = 1

[defaults]
timeout = "20m"
memory = "1GiB"
env = { MODE = "ci" }

[agents.mine]
command = ["my-agent", "--prompt", "{prompt}"]

[[tasks]]
id = "one"
agent = "mine"
prompt_file = "one.md"
priority = "high"
cost = 2.5
paths = ["src/**"]
locks = ["db"]
cpu = 1.5
retries = 2
best_of = 2
check = ["pytest", "-x"]
on_conflict = "rerun"
max_cost_usd = 2

[[tasks]]
id = "two"
agent = "claude"
resources = { gpu = 1, licence = 0.5 }
prompt = "write the docs"
depends_on = ["one"]

[[tasks]]
id = "three"
command = "echo {task}"
timeout = 95
"""

NOT_SETTINGS = {"index", "path", "text", "agent", "prompt", "prompt_file", "command"}


def _rich(tmp_path: Path) -> Plan:
    (tmp_path / "one.md").write_text("do the first thing\n")
    path = tmp_path / "plan.toml"
    path.write_text(RICH)
    return load(path)


def _settings(plan: Plan) -> Plan:
    return dataclasses.replace(plan, text="", agents={})


def test_the_resolved_plan_reads_back_as_the_same_plan(tmp_path: Path) -> None:
    plan = _rich(tmp_path)
    again = loads(resolved(plan), plan.path)
    assert _settings(again) == _settings(plan)
    # the plan's own agents, and the presets its tasks use, now written out
    assert again.agents["mine"] == plan.agents["mine"] and set(again.agents) == {"mine", "claude"}


def test_defaults_and_presets_are_written_out(tmp_path: Path) -> None:
    text = resolved(_rich(tmp_path))
    assert '[agents.claude]\ncommand = [\n    "claude",' in text  # the preset a task uses
    assert text.count('timeout = "20m"') == 2 and 'timeout = "1m35s"' in text
    assert text.count('memory = "1GiB"') == 3 and text.count('MODE = "ci"') == 3
    assert 'prompt_file = "' in text and "do the first thing" not in text


def test_the_round_trip_covers_every_setting(tmp_path: Path) -> None:
    """A setting added to the model must be set in RICH (so the round trip checks it is
    written out): each field differs from its default somewhere in the plan."""
    plan = _rich(tmp_path)
    owners: list[tuple[Any, tuple[Any, ...]]] = [
        (RunSettings, (plan.run,)),
        (MergeSettings, (plan.merge,)),
        (Task, plan.tasks),
    ]
    for kind, objects in owners:
        for f in dataclasses.fields(kind):
            if f.name in NOT_SETTINGS or f.default is dataclasses.MISSING:
                continue
            assert any(getattr(o, f.name) != f.default for o in objects), (
                f"{kind.__name__}.{f.name} is at its default in RICH: set it there"
            )


def test_validate_resolved_prints_toml_and_refuses_json(tmp_path: Path) -> None:
    _rich(tmp_path)
    cli = [sys.executable, "-m", "genesis_par", "validate", str(tmp_path / "plan.toml")]
    done = subprocess.run([*cli, "--resolved"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith('version = 1\n\n[run]\nname = "rich"')
    refused = subprocess.run([*cli, "--resolved", "--json"], capture_output=True, text=True)
    assert refused.returncode == 2 and "--resolved prints TOML" in refused.stderr
