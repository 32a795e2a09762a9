"""The plan room: what a plan says (model), how it is read and checked (parse), its graph,
templates and agent presets. `load` and the model's types are its face."""

from genesis_par.plan.model import MergeSettings, Plan, RunSettings, Task
from genesis_par.plan.parse import load, loads
from genesis_par.plan.presets import find_agent

__all__ = ["MergeSettings", "Plan", "RunSettings", "Task", "find_agent", "load", "loads"]
