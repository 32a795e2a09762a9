"""`genesis-par report [RUN] --format json|junit|markdown|html [-o FILE]`."""

from __future__ import annotations

import json
from pathlib import Path

from genesis_par.commands.common import open_store, pick_run, state_dir
from genesis_par.errors import UsageError
from genesis_par.report import formats
from genesis_par.report.console import console, emit

FORMATS = ("json", "junit", "markdown", "html")


def _read(path: str | None) -> str:
    if not path or not Path(path).exists():
        return ""
    return Path(path).read_text(errors="replace")


def run(
    cwd: Path, run_name: str | None = None, *, fmt: str = "json", output: Path | None = None
) -> int:
    """Render a finished run's report to stdout or a file."""
    if fmt not in FORMATS:
        raise UsageError(f'unknown format "{fmt}": use one of {", ".join(FORMATS)}')
    _, state = state_dir(cwd)
    with open_store(state, read_only=True) as store:
        record = pick_run(store, run_name)
        result = store.result(record.name)
        if result is None:
            raise UsageError(
                f'run "{record.name}" has not finished: report it after it ends '
                "(or `genesis-par resume` it)"
            )
        attempts = store.attempts(record.name)
        last_logs = {str(t["id"]): _read(t["log"]) for t in store.tasks(record.name)}
    if fmt == "json":
        text = json.dumps(result, indent=2)
    elif fmt == "junit":
        text = formats.junit(result, {k: formats.log_tail(v) for k, v in last_logs.items() if v})
    elif fmt == "markdown":
        text = formats.markdown(result)
    else:
        text = formats.html_report(result, attempts, last_logs)
    if output is None:
        emit(text)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
    return 0
