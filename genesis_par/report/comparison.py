"""What each agent spent and did, side by side: the usage parts of the Markdown, JUnit and
HTML reports (the numbers come from genesis_par.usage.compare, the same as the JSON's)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from genesis_par.report import amounts
from genesis_par.usage import compare

if TYPE_CHECKING:
    from xml.etree import ElementTree as ET

AGENT_COLUMNS = (
    "agent",
    "tasks",
    "success",
    "tokens in/out",
    "cost",
    "cost per succeeded task",
    "cost per 1,000 tokens",
    "time",
)


def _tasks(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(result.get("tasks", []))


def agent_cells(row: Mapping[str, Any]) -> list[str]:
    """One agent's row as text, in AGENT_COLUMNS order."""
    return [
        str(row["agent"]),
        str(row["tasks"]),
        f"{row['succeeded']} ({amounts.percent(row['success_rate'])})" if row["tasks"] else "",
        amounts.in_out(row),
        amounts.dollars(row["cost_usd"]),
        amounts.dollars(row["cost_per_succeeded_task_usd"]),
        amounts.dollars(row["cost_per_1k_tokens_usd"]),
        f"{row['duration_s']:.1f}s",
    ]


def candidate_cells(c: Mapping[str, Any]) -> list[str]:
    """One best_of candidate as text: k, agent, cost, tokens, diff, check, outcome."""
    usage = c.get("usage") or {}
    outcome = "winner" if c.get("winner") else (c.get("failure") or "passed, not chosen")
    return [
        str(c["k"]),
        str(c.get("agent") or compare.COMMAND),
        amounts.dollars(usage.get("cost_usd")),
        amounts.in_out(usage),
        "" if c.get("diff_lines") is None else str(c["diff_lines"]),
        c.get("check") or "",
        outcome,
    ]


CANDIDATE_COLUMNS = ("candidate", "agent", "cost", "tokens in/out", "diff lines", "check", "")


def markdown(result: Mapping[str, Any]) -> list[str]:
    """The Markdown lines: the run's spend and the agents table (nothing when nothing spent)."""
    usage = result["usage"]
    if not (usage["input_tokens"] or usage["output_tokens"] or usage["cost_usd"] is not None):
        return []
    cost = amounts.dollars(usage["cost_usd"])
    lines = [
        "",
        f"**Spent**: {amounts.tokens(usage['input_tokens'])} tokens in, "
        f"{amounts.tokens(usage['output_tokens'])} out" + (f", {cost}" if cost else ""),
        "",
        "| " + " | ".join(AGENT_COLUMNS) + " |",
        "|" + "---|" * len(AGENT_COLUMNS),
    ]
    for row in result["agents"]:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in agent_cells(row)) + " |")
    return lines


def junit_properties(result: Mapping[str, Any], suite: ET.Element) -> None:
    """The run's and each task's usage as the suite's <properties> (junit-10.xsd has none on
    a testcase)."""
    tasks = _tasks(result)
    props = [(f"usage.{k}", v) for k, v in result["usage"].items()]
    for t in tasks:
        for key, value in (t.get("usage") or {}).items():
            props.append((f"task.{t['id']}.usage.{key}", value))
    if not props:
        return
    from xml.etree import ElementTree as ET

    holder = ET.SubElement(suite, "properties")
    for name, value in props:
        if value is not None:
            ET.SubElement(holder, "property", name=name, value=str(value))


def _bar(value: float | None, biggest: float) -> str:
    if value is None or biggest <= 0:
        return ""
    width = max(value / biggest * 100, 0.5)
    return f'<span class="meter"><span style="width:{width:.1f}%"></span></span>'


def html_section(result: Mapping[str, Any]) -> str:
    """The agents section (a row per agent, with bars) and a best_of table per task."""
    tasks = _tasks(result)
    rows = result["agents"]
    if not rows:
        return ""
    biggest = {
        key: max((float(r[key] or 0) for r in rows), default=0.0)
        for key in ("success_rate", "cost_usd", "cost_per_1k_tokens_usd", "duration_s")
    }
    biggest["tokens"] = max((r["input_tokens"] + r["output_tokens"] for r in rows), default=0)
    body = []
    for row in rows:
        cells = agent_cells(row)
        bars = {
            2: _bar(row["success_rate"], 1.0),
            3: _bar(row["input_tokens"] + row["output_tokens"], biggest["tokens"]),
            4: _bar(row["cost_usd"], biggest["cost_usd"]),
            6: _bar(row["cost_per_1k_tokens_usd"], biggest["cost_per_1k_tokens_usd"]),
            7: _bar(row["duration_s"], biggest["duration_s"]),
        }
        tds = "".join(f"<td>{html.escape(c)}{bars.get(i, '')}</td>" for i, c in enumerate(cells))
        body.append(f'<tr data-agent="{html.escape(str(row["agent"]))}">{tds}</tr>')
    head = "".join(f"<th>{html.escape(c)}</th>" for c in AGENT_COLUMNS)
    out = [
        "<h2>Agents</h2>",
        f'<table id="agents"><tr>{head}</tr>{"".join(body)}</table>',
        _tasks_usage(tasks),
    ]
    out += [_candidates_html(t) for t in tasks if t.get("candidates")]
    return "\n".join(out)


def _tasks_usage(tasks: Sequence[Mapping[str, Any]]) -> str:
    columns = ("task", "agent", "status", "tokens in/out", "cost", "turns", "model", "time", "cpu")
    rows = []
    for t in tasks:
        usage = t.get("usage") or {}
        cells = [
            t["id"],
            t.get("agent") or compare.COMMAND,
            t["status"],
            amounts.in_out(usage),
            amounts.dollars(usage.get("cost_usd")),
            str(usage.get("turns") or ""),
            usage.get("model") or "",
            f"{t['duration_s']:.1f}s" if t.get("duration_s") is not None else "",
            f"{t.get('cpu_s') or 0:.1f}s",
        ]
        notes = "; ".join(t.get("usage_notes") or [])
        title = f' title="{html.escape(notes)}"' if notes else ""
        tds = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
        rows.append(f'<tr data-task="{html.escape(t["id"])}"{title}>{tds}</tr>')
    head = "".join(f"<th>{c}</th>" for c in columns)
    return f'<h3>Tasks</h3><table id="task-usage"><tr>{head}</tr>{"".join(rows)}</table>'


def _candidates_html(task: Mapping[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in CANDIDATE_COLUMNS)
    rows = []
    for c in task["candidates"]:
        tds = "".join(f"<td>{html.escape(v)}</td>" for v in candidate_cells(c))
        winner = ' class="winner"' if c.get("winner") else ""
        rows.append(f'<tr data-candidate="{int(c["k"])}"{winner}>{tds}</tr>')
    name = html.escape(task["id"])
    return (
        f"<h3>best_of: <code>{name}</code></h3>"
        f'<table class="best-of" data-task="{name}"><tr>{head}</tr>{"".join(rows)}</table>'
    )


STYLE = """
.meter { display: block; height: 4px; background: #eee; margin-top: 2px; min-width: 6em; }
.meter span { display: block; height: 4px; background: #47c; }
tr.winner { background: #dfd; font-weight: bold; }
"""
