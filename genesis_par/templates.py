"""Expand `{prompt}`-style variables in command templates, never turning data into code."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from genesis_par.plan import Command

_VARIABLE = re.compile(r"\{\{|\}\}|\{([a-z_]+)\}")


def _substitute(text: str, values: Mapping[str, str], quote: bool) -> str:
    def one(match: re.Match[str]) -> str:
        if match[0] in ("{{", "}}"):
            return match[0][0]
        value = values[match[1]]
        return shlex.quote(value) if quote else value

    return _VARIABLE.sub(one, text)


def expand(command: Command, values: Mapping[str, str]) -> list[str]:
    """argv for a command: list form substitutes per argument, shell form shell-quotes values."""
    return [_substitute(part, values, quote=command.shell) for part in command.argv]


def environment(values: Mapping[str, str]) -> dict[str, str]:
    """The same values as GENESIS_* variables."""
    return {f"GENESIS_{name.upper()}": value for name, value in values.items()}
