from __future__ import annotations

import subprocess

from genesis_par import __version__
from tests.conftest import genesis_cmd, genesis_env


def test_version_and_help_in_a_subprocess() -> None:
    out = subprocess.run(
        [*genesis_cmd(), "--version"], capture_output=True, text=True, env=genesis_env()
    )
    assert out.returncode == 0
    assert out.stdout.strip() == f"genesis-par {__version__}"
    out = subprocess.run(
        [*genesis_cmd(), "--help"], capture_output=True, text=True, env=genesis_env()
    )
    assert out.returncode == 0
    assert "Usage" in out.stdout


def test_unknown_option_is_a_usage_error() -> None:
    out = subprocess.run(
        [*genesis_cmd(), "--no-such-option"], capture_output=True, text=True, env=genesis_env()
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
