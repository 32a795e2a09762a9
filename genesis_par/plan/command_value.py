"""A command in a plan (a task's, an agent's, a check, [run] setup, [merge] resolver): a string
run by the shell or a list of arguments, its {variables} checked against the known ones."""

from __future__ import annotations

import re
from typing import Any

from genesis_par.plan.model import TEMPLATE_VARS, Command
from genesis_par.plan.templates import unexpandable
from genesis_par.plan.values import Where, check_no_nul, did_you_mean

TEMPLATE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def parse_command(value: Any, where: Where, key: str) -> Command:
    if isinstance(value, str) and value.strip():
        command = Command((value,), shell=True)
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        command = Command(tuple(value))
    else:
        raise where.error(f"{key} must be a non-empty string (run by the shell) or list of strings")
    for part in command.argv:
        check_no_nul(part, where, key)
        for match in TEMPLATE.finditer(part):
            name = match[1]
            if name is not None and name not in TEMPLATE_VARS:
                hint = did_you_mean(name, TEMPLATE_VARS)
                raise where.error(
                    f"{key} uses unknown variable {{{name}}}{hint}; known: "
                    + ", ".join(f"{{{v}}}" for v in TEMPLATE_VARS)
                    + " (write {{ and }} for literal braces)"
                )
    if command.shell:
        name = unexpandable(command.argv[0])
        if name:
            raise where.error(
                f"{key} puts {name} in a quoted here-document (<<'EOF'), where the shell "
                "expands nothing: write its delimiter unquoted (<<EOF)"
            )
    return command
