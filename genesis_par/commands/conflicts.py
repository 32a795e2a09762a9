"""`genesis-par conflicts [BRANCH...]`: conflicts among branches and against a target."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from genesis_par.land.probe import probe
from genesis_par.model import ExitCode
from genesis_par.report import conflicts_view


def run(
    cwd: Path,
    branches: Sequence[str] = (),
    *,
    into: str | None = None,
    run_name: str | None = None,
    as_json: bool = False,
) -> int:
    """Probe the branches; 0 when all is clean, 3 when anything conflicts."""
    report = probe(cwd, branches, into, run_name)
    if as_json:
        conflicts_view.print_json(report)
    else:
        conflicts_view.print_report(report)
    return ExitCode.OK if report.clean else ExitCode.CONFLICTS
