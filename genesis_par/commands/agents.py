"""`genesis-par agents`: the built-in agent presets and whether each is installed."""

from __future__ import annotations

from genesis_par import proc
from genesis_par.plan import presets
from genesis_par.report import agents_view


def run(*, as_json: bool = False) -> int:
    """List presets with their command, install state and version."""
    rows = []
    for name, preset in presets.PRESETS.items():
        path = presets.installed(preset.agent)
        rows.append(
            {
                "name": name,
                "command": list(preset.agent.command.argv),
                "installed": path is not None,
                "path": path,
                "version": proc.version_of(path) if path and name != "shell" else None,
                "install": preset.install,
            }
        )
    agents_view.show(rows, as_json)
    return 0
