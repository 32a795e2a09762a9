"""The plan room: what a plan says (model), how it is read and checked (parse), its graph,
templates and agent presets. `load` and the model's types are its face.

They are loaded on first use: `conflicts` and the report renderers need a small part of the
room (on_conflict, values) and not the TOML parser (issue 19: start-up)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from genesis_par.plan.model import MergeSettings, Plan, RunSettings, Task
    from genesis_par.plan.parse import load, loads
    from genesis_par.plan.presets import find_agent

__all__ = ["MergeSettings", "Plan", "RunSettings", "Task", "find_agent", "load", "loads"]

_HOME = {"load": "parse", "loads": "parse", "find_agent": "presets"}  # the rest: model


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_HOME.get(name, 'model')}")
    value = getattr(module, name)
    globals()[name] = value
    return value
