"""`genesis-par init [PATH]`: write a commented starter plan."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from genesis_par.errors import UsageError
from genesis_par.report.console import console


def starter_text() -> str:
    """The commented starter plan shipped with the package."""
    return resources.files("genesis_par.data").joinpath("starter_plan.toml").read_text()


def run(path: Path, *, force: bool = False) -> int:
    """Write the starter plan to path; refuse to overwrite unless force."""
    if path.exists() and not force:
        raise UsageError(f"{path} already exists: pass --force to overwrite it")
    try:
        path.write_text(starter_text())
    except OSError as e:  # no such folder, a folder of that name, no right to write there
        raise UsageError(
            f"{path}: cannot write the plan there ({e.strerror}): name a file in a folder "
            "that exists and that you can write to"
        ) from None
    console.print(f"wrote {path}: edit its tasks, then `genesis-par validate {path}`")
    return 0
