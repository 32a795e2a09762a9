"""[merge] batch, parallel_checks and check_retries: read, checked, defaults resolved."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from genesis_par import plan
from genesis_par.errors import PlanError
from genesis_par.land.checks import BatchSettings, default_parallel_checks
from genesis_par.land.landing import batching
from tests.conftest import genesis_cmd, genesis_env

TASK = "[[tasks]]\nid = 'a'\ncommand = 'true'\n"

BAD = [
    ("batch = 0", '[merge] batch must be "auto" or a whole number of at least 1'),
    ("batch = 'many'", "not 'many'"),
    ("batch = true", "not True"),
    ("batch = 2.5", "not 2.5"),
    ("parallel_checks = 0", "[merge] parallel_checks must be at least 1, not 0"),
    ("parallel_checks = 'two'", "[merge] parallel_checks must be an integer"),
    ("check_retries = -1", "[merge] check_retries must be 0 or more, not -1"),
    ("check_retries = false", "[merge] check_retries must be an integer"),
]


@pytest.mark.parametrize(("line", "expected"), BAD)
def test_bad_batch_settings_get_one_line(tmp_path: Path, line: str, expected: str) -> None:
    path = tmp_path / "plan.toml"
    path.write_text(f"version = 1\n[merge]\n{line}\n{TASK}")
    with pytest.raises(PlanError) as info:
        plan.load(path)
    message = str(info.value)
    assert message.startswith("plan.toml: ") and expected in message and "\n" not in message


def test_validate_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "plan.toml"
    path.write_text(f"version = 1\n[merge]\nbatch = 0\n{TASK}")
    done = subprocess.run(
        [*genesis_cmd(), "validate", str(path)],
        capture_output=True,
        text=True,
        env=genesis_env(),
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "[merge] batch must be" in done.stderr


def test_defaults_and_values(tmp_path: Path) -> None:
    path = tmp_path / "plan.toml"
    path.write_text(f"version = 1\n[run]\nmax_parallel = 2\n{TASK}")
    default = plan.load(path)
    assert (default.merge.batch, default.merge.parallel_checks, default.merge.check_retries) == (
        None,
        None,
        0,
    )
    assert batching(default) == BatchSettings(None, default_parallel_checks(2), 0)
    path.write_text(
        f"version = 1\n[merge]\nbatch = 4\nparallel_checks = 3\ncheck_retries = 2\n{TASK}"
    )
    assert batching(plan.load(path)) == BatchSettings(4, 3, 2)
    path.write_text(f"version = 1\n[merge]\nbatch = 'auto'\n{TASK}")
    assert plan.load(path).merge.batch is None


def test_the_default_parallel_checks_are_the_cores_the_agents_leave() -> None:
    assert default_parallel_checks(4, cores=8) == 4
    assert default_parallel_checks(4, cores=2) == 1
    assert BatchSettings(1, 1, 0).one_by_one and not BatchSettings(1, 2, 0).one_by_one
    assert BatchSettings(None).size(100) == 32 and BatchSettings(5).size(3) == 3


def test_validate_resolved_writes_batch_auto_and_reads_back(tmp_path: Path) -> None:
    from genesis_par.plan.resolved import resolved

    path = tmp_path / "plan.toml"
    path.write_text(f"version = 1\n{TASK}")
    text = resolved(plan.load(path))
    assert 'batch = "auto"' in text and "parallel_checks" not in text
    again = tmp_path / "again.toml"
    again.write_text(text)
    assert plan.load(again).merge == plan.load(path).merge
