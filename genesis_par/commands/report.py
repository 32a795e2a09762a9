"""`genesis-par report [RUN] --format json|junit|markdown|html [-o FILE]`."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from genesis_par.commands.common import open_store, state_dir
from genesis_par.errors import UsageError
from genesis_par.report import formats
from genesis_par.report.console import console, emit
from genesis_par.report.run_json import run_json
from genesis_par.state.store import pick_run

FORMATS = ("json", "junit", "markdown", "html")


def _excerpt(path: Path | None) -> formats.LogExcerpt | None:
    """The end of a log, at most LOG_EXCERPT_BYTES and from a line start: a 1 GB log is never
    read whole. None when there is no log, or it is not a regular file (an agent can replace
    its log with a FIFO, which would block the read)."""
    if not path:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        start = max(info.st_size - formats.LOG_EXCERPT_BYTES, 0)
        handle.seek(start)
        data = handle.read(formats.LOG_EXCERPT_BYTES)
    if start:
        cut = data.find(b"\n") + 1  # a partial first line is left out too
        data, start = data[cut:], start + cut
    return formats.LogExcerpt(data.decode("utf-8", errors="replace"), str(path), start)


def run(
    cwd: Path, run_name: str | None = None, *, fmt: str = "json", output: Path | None = None
) -> int:
    """Render a finished run's report to stdout or a file."""
    if fmt not in FORMATS:
        raise UsageError(f'unknown format "{fmt}": use one of {", ".join(FORMATS)}')
    _, state = state_dir(cwd)
    with open_store(state, read_only=True) as store:
        record = pick_run(store, run_name)
        finished = store.finished(record.name)
        if finished is None:
            raise UsageError(
                f'run "{record.name}" has not finished: report it after it ends '
                "(or `genesis-par resume` it)"
            )
        attempts = store.attempts(record.name)
    result = run_json(finished)
    log_paths = {t.id: t.log for t in finished.tasks}
    if fmt == "json":
        text = json.dumps(result, indent=2)
    elif fmt == "markdown":
        text = formats.markdown(result)
    else:  # only these show logs: their ends, read one at a time
        logs = {task: e for task, path in log_paths.items() if (e := _excerpt(path)) and e.text}
        if fmt == "junit":
            text = formats.junit(result, logs)
        else:
            text = formats.html_report(result, attempts, logs)
    if output is None:
        emit(text)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as e:  # no such folder, a folder of that name, no right to write there
            raise UsageError(
                f"--output {output}: cannot write the report there ({e.strerror}): name a file "
                "in a folder that exists and that you can write to"
            ) from None
        console.print(f"wrote {output}")
    return 0
