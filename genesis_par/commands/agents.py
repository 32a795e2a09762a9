"""`genesis-par agents`: the built-in agent presets and whether each is installed;
`agents --run RUN`: what each agent of a run spent and did, side by side."""

from __future__ import annotations

from pathlib import Path

from genesis_par import proc
from genesis_par.commands.common import effective_run, open_store, state_dir
from genesis_par.plan import presets
from genesis_par.report import agents_view
from genesis_par.state.store import pick_run


def run(*, as_json: bool = False, run_name: str | None = None, cwd: Path | None = None) -> int:
    """List presets with their command, install state and version; with run_name, compare
    the agents of that run instead."""
    if run_name is not None:
        return _compare(cwd or Path.cwd(), run_name, as_json)
    rows = []
    for name, preset in presets.PRESETS.items():
        path = presets.installed(preset.agent)
        version = proc.version_of(path) if path and name != "shell" else None
        command = tuple(preset.agent.command.argv)
        rows.append(agents_view.AgentRow(name, command, path, version, preset.install))
    agents_view.show(rows, as_json)
    return 0


def _compare(cwd: Path, run_name: str, as_json: bool) -> int:
    _, state = state_dir(cwd)
    with open_store(state, read_only=True) as store:
        record = pick_run(store, run_name)
        status, records = effective_run(store, record)
    agents_view.show_comparison(agents_view.comparison_json(record, status, records), as_json)
    return 0
