"""Reports of a finished run: JUnit XML, Markdown, and a self-contained HTML timeline."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from genesis_par.model import TaskStatus
from genesis_par.report import amounts, comparison, queue_view
from genesis_par.state.store import AttemptRecord

LOG_TAIL_LINES = 40  # of a task's log in JUnit's <system-out>
LOG_EXCERPT_BYTES = 64 * 1024  # the most of a task's log a report reads and shows


class LogExcerpt(NamedTuple):
    """The end of a task's log: its text, the log's path, and how many bytes came before it."""

    text: str
    path: str
    skipped_bytes: int = 0

    def note(self) -> str:
        """What was left out and where the whole log is; empty when nothing was."""
        if not self.skipped_bytes:
            return ""
        return f"the first {self.skipped_bytes:,} bytes are left out; the whole log: {self.path}"


def _tasks(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(result.get("tasks", []))


def _unmerged(result: Mapping[str, Any]) -> dict[str, str]:
    """Succeeded tasks the merge queue left out, each with why in one line."""
    out = {}
    for u in (result.get("merge") or {}).get("unmerged", []):
        detail = conflicts_text(u)
        why = f"not merged: {u['reason']}{queue_view.under(u)}"
        out[u["task"]] = why + (f": {detail}" if detail else "")
    return out


def conflicts_text(unmerged: Mapping[str, Any]) -> str:
    """`path (kind) with task; ...` for one unmerged task of a run's JSON."""
    return "; ".join(
        f"{c['path']} ({c['kind']}) with {c['with']}" for c in unmerged.get("conflicts", [])
    )


def junit(result: Mapping[str, Any], logs: Mapping[str, LogExcerpt]) -> str:
    """One testsuite, one testcase per task: failed, cancelled and unmerged are failures (the
    run's exit code says so too), skipped skips; the end of each log as its system-out."""
    from xml.etree import ElementTree as ET  # here: a run's every start would pay for it

    tasks = _tasks(result)
    unmerged = _unmerged(result)
    failures = sum(
        t["status"] in (TaskStatus.FAILED, TaskStatus.CANCELLED) or t["id"] in unmerged
        for t in tasks
    )
    skipped = sum(t["status"] == TaskStatus.SKIPPED for t in tasks)
    total_time = sum(t.get("duration_s") or 0.0 for t in tasks)
    # junit-10.xsd (Jenkins, Surefire) allows no `skipped` on <testsuites>: only on <testsuite>
    suites = ET.Element(
        "testsuites",
        name="genesis-par",
        tests=str(len(tasks)),
        failures=str(failures),
        errors="0",
        time=f"{total_time:.3f}",
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"genesis-par.{result['run']}",
        tests=str(len(tasks)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=f"{total_time:.3f}",
    )
    for t in tasks:
        case = ET.SubElement(
            suite,
            "testcase",
            name=t["id"],
            classname=f"genesis-par.{result['run']}",
            time=f"{t.get('duration_s') or 0.0:.3f}",
        )
        reason = t.get("reason") or ""
        if t["status"] in (TaskStatus.FAILED, TaskStatus.CANCELLED):
            kind = t.get("failure") or t["status"]
            failure = ET.SubElement(case, "failure", message=reason or kind, type=kind)
            failure.text = reason
        elif t["status"] == TaskStatus.SKIPPED:
            ET.SubElement(case, "skipped", message=reason)
        elif t["id"] in unmerged:
            failure = ET.SubElement(case, "failure", message=unmerged[t["id"]], type="unmerged")
            failure.text = unmerged[t["id"]]
        log = logs.get(t["id"])
        if log:
            ET.SubElement(case, "system-out").text = log_tail(log)
    comparison.junit_properties(result, suite)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")


def markdown(result: Mapping[str, Any]) -> str:
    """A summary a person reads: tasks, durations, what merged, conflicts by file."""
    lines = [
        f"## genesis-par run `{result['run']}`: {result['status']}",
        "",
        "| task | status | tries | time | tokens in/out | cost | why |",
        "|---|---|---|---|---|---|---|",
    ]
    icons = {
        TaskStatus.SUCCEEDED: "✅",
        TaskStatus.FAILED: "❌",
        TaskStatus.SKIPPED: "⏭️",
        TaskStatus.CANCELLED: "⛔",
    }
    unmerged = _unmerged(result)
    for t in _tasks(result):
        duration = f"{t['duration_s']:.1f}s" if t.get("duration_s") is not None else ""
        status = f"{icons.get(t['status'], '')} {t['status']}"
        if t["id"] in unmerged:
            status += ", ⚠️ not merged"
        why = (t.get("reason") or unmerged.get(t["id"], "")).replace("|", "\\|")
        usage = t.get("usage") or {}
        spent = f"{amounts.in_out(usage)} | {amounts.dollars(usage.get('cost_usd'))}"
        lines.append(
            f"| `{t['id']}` | {status} | {t.get('attempts') or ''} | {duration} | {spent} | {why} |"
        )
    lines += comparison.markdown(result)
    merge = result.get("merge")
    if merge:
        lines += [
            "",
            f"**Merged into `{merge['into']}`** ({len(merge['merged'])}): "
            + (", ".join(f"`{m}`" for m in merge["merged"]) or "none"),
        ]
        if merge.get("rolled_back_to"):
            lines.append(
                f"- **rolled back**: `{merge['into']}` is at `{merge['rolled_back_to'][:12]}`"
            )
        for r in merge.get("resolutions") or []:
            said = f": {r['reason']}" if r.get("reason") else ""
            lines.append(
                f"- **resolution** `{r['task']}` ({r['strategy']}, try {r['n']}): "
                f"{r['outcome']}{said}"
            )
        for u in merge["unmerged"]:
            detail = "; ".join(
                f"`{c['path']}` ({c['kind']}, with `{c['with']}`)" for c in u.get("conflicts", [])
            )
            lines.append(
                f"- **unmerged** `{u['task']}`: {u['reason']}{queue_view.under(u)}"
                + (f": {detail}" if detail else "")
            )
        lines += [f"- {line}" for line in queue_view.batch_lines(merge.get("batches") or [])]
    files = _conflicted_files(result)
    if files:
        lines += ["", "**Conflicts by file**", ""]
        lines += [
            f"- `{path}`: {', '.join(sorted(kinds))} between "
            f"{', '.join(f'`{b}`' for b in sorted(branches))}"
            for path, (branches, kinds) in sorted(files.items())
        ]
    return "\n".join(lines) + "\n"


def _conflicted_files(result: Mapping[str, Any]) -> dict[str, tuple[set[str], set[str]]]:
    files: dict[str, tuple[set[str], set[str]]] = {}
    for pair in (result.get("conflicts") or {}).get("pairs", []):
        for c in pair["conflicts"]:
            branches, kinds = files.setdefault(c["path"], (set(), set()))
            branches.update((pair["a"], pair["b"]))
            kinds.add(c["kind"])
    return files


def _slots(attempts: Sequence[AttemptRecord]) -> list[tuple[AttemptRecord, int]]:
    """Give each attempt a worker slot: the lowest one free when it started."""
    ends: list[float] = []
    placed = []
    for a in sorted(attempts, key=lambda a: a.started_at or 0.0):
        start, end = a.started_at or 0.0, a.finished_at or a.started_at or 0.0
        slot = next((i for i, e in enumerate(ends) if e <= start), len(ends))
        if slot == len(ends):
            ends.append(end)
        else:
            ends[slot] = end
        placed.append((a, slot))
    return placed


def html_report(
    result: Mapping[str, Any], attempts: Sequence[AttemptRecord], logs: Mapping[str, LogExcerpt]
) -> str:
    """One self-contained page: the timeline, the conflict matrix, each task's log."""
    placed = _slots(attempts)
    t0 = min((a.started_at or 0.0 for a in attempts), default=0.0)
    t1 = max((a.finished_at or a.started_at or 0.0 for a in attempts), default=t0 + 1.0)
    span = max(t1 - t0, 0.001)
    status = {t["id"]: t["status"] for t in _tasks(result)}
    bars = []
    for a, slot in placed:
        left = ((a.started_at or t0) - t0) / span * 100
        width = max(((a.finished_at or t1) - (a.started_at or t0)) / span * 100, 0.4)
        outcome = "ok" if a.exit_code == 0 and not a.failure else "bad"
        if a.exit_code == 0 and status.get(a.task) != TaskStatus.SUCCEEDED:
            outcome = "bad"
        title = html.escape(f"{a.task} attempt {a.n}: {a.failure or 'exit ' + str(a.exit_code)}")
        bars.append(
            f'<div class="bar {outcome}" data-task="{html.escape(a.task)}" '
            f'style="left:{left:.2f}%;width:{width:.2f}%;top:{slot * 28}px" '
            f'title="{title}">{html.escape(a.task)} #{a.n}</div>'
        )
    rows = max((slot for _, slot in placed), default=0) + 1
    names = [t["id"] for t in _tasks(result)]
    pairs = {(p["a"], p["b"]): p for p in (result.get("conflicts") or {}).get("pairs", [])}
    matrix = _matrix(names, result["run"], pairs)
    log_sections = "".join(
        f"<details><summary>{html.escape(name)} ({html.escape(status.get(name, ''))})</summary>"
        + (f'<p class="cut">{html.escape(log.note())}</p>' if log.note() else "")
        + f"<pre>{html.escape(printable(log.text))}</pre></details>"
        for name, log in logs.items()
    )
    # inside <script> nothing is entity-decoded: keep the JSON as is, only `<` escaped
    data = json.dumps(result).replace("<", "\\u003c")
    merge_section = _merge_html(result)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>genesis-par run {html.escape(result["run"])}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em; color: #222; }}
.timeline {{ position: relative; height: {rows * 28}px; border-left: 1px solid #999;
  border-bottom: 1px solid #999; margin: 1em 0 2em; }}
.bar {{ position: absolute; height: 24px; line-height: 24px; font-size: 12px; overflow: hidden;
  white-space: nowrap; border-radius: 3px; padding: 0 4px; box-sizing: border-box; color: #fff; }}
.ok {{ background: #2a7; }} .bad {{ background: #c33; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
.clean {{ background: #dfd; }} .conflict {{ background: #fcc; }} .unmerged {{ color: #a50; }}
pre {{ background: #f6f6f6; padding: 1em; overflow: auto; max-height: 30em; }}
.cut {{ color: #666; font-style: italic; }}
{comparison.STYLE}
</style></head><body>
<h1>genesis-par run <code>{html.escape(result["run"])}</code>: {html.escape(result["status"])}</h1>
<h2>Timeline</h2>
<p>One bar per attempt, by worker slot, over {span:.1f} s; green succeeded, red failed.</p>
<div class="timeline" id="timeline">{"".join(bars)}</div>
{comparison.html_section(result)}
<h2>Merge</h2>
{merge_section}
<h2>Conflicts</h2>
{matrix}
<h2>Logs</h2>
{log_sections}
<script type="application/json" id="run-data">{data}</script>
</body></html>
"""


def _merge_html(result: Mapping[str, Any]) -> str:
    merge = result.get("merge")
    if not merge:
        return "<p>The merge queue did not run (<code>--no-merge</code>, or nothing succeeded).</p>"
    merged = ", ".join(f"<code>{html.escape(m)}</code>" for m in merge["merged"]) or "nothing"
    items = "".join(
        f'<li class="unmerged"><code>{html.escape(task)}</code> {html.escape(why)}</li>'
        for task, why in _unmerged(result).items()
    )
    return f"<p>Merged into <code>{html.escape(merge['into'])}</code>: {merged}</p>" + (
        f"<ul>{items}</ul>" if items else ""
    )


def _matrix(names: list[str], run: str, pairs: Mapping[tuple[str, str], Any]) -> str:
    branch = {n: f"genesis/{run}/{n}" for n in names}
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = []
    for a in names:
        cells = []
        for b in names:
            pair = pairs.get((branch[a], branch[b])) or pairs.get((branch[b], branch[a]))
            if a == b or pair is None:
                cells.append("<td></td>")
            elif pair["clean"]:
                cells.append('<td class="clean">clean</td>')
            else:
                kinds = ", ".join(sorted({c["kind"] for c in pair["conflicts"]}))
                cells.append(f'<td class="conflict">{html.escape(kinds)}</td>')
        rows.append(f"<tr><th>{html.escape(a)}</th>{''.join(cells)}</tr>")
    return f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>"


_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
# What XML 1.0 does not allow: the complement of its Char production, written out (compiling
# the complement itself took 5.6 ms of every start, issue 19).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def printable(text: str) -> str:
    """A log as text any XML or HTML reader takes: colour codes and control characters out."""
    return _NOT_XML.sub("", _ANSI.sub("", text))


def log_tail(log: LogExcerpt, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log, printable, after a note when earlier ones are left out."""
    kept = log.text.splitlines()
    tail = printable("\n".join(kept[-lines:]))
    if len(kept) <= lines and not log.skipped_bytes:
        return tail
    return f"[genesis-par: the last {lines} lines; the whole log: {log.path}]\n{tail}"
