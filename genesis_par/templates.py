"""Expand `{prompt}`-style variables in command templates, never turning data into code."""

from __future__ import annotations

import re
from collections.abc import Mapping

from genesis_par.plan import MAX_PROMPT_ARG, Command

_VARIABLE = re.compile(r"\{\{|\}\}|\{([a-z_]+)\}")


def expand(
    command: Command, values: Mapping[str, str], env: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    """argv and environment for a command.

    List form: each value is substituted into its argument (no shell ever sees it). Shell
    form: each variable becomes a reference to its GENESIS_* environment variable, quoted for
    the place it stands in (bare, inside "..." or inside '...'), so the shell never parses a
    value: a prompt holding `$(...)`, quotes or newlines stays data even in `"{prompt}"`.
    """
    full_env = {**env, **environment(values)}
    if not command.shell:
        return [_substitute(part, values) for part in command.argv], full_env
    return [_reference(command.argv[0])], full_env


def environment(values: Mapping[str, str]) -> dict[str, str]:
    """The same values as GENESIS_* variables; a prompt too long for one variable (Linux
    refuses over 128 KiB) is left to GENESIS_PROMPT_FILE."""
    return {
        f"GENESIS_{name.upper()}": value
        for name, value in values.items()
        if len(value.encode()) <= MAX_PROMPT_ARG
    }


def _substitute(text: str, values: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        return match[0][0] if match[0] in ("{{", "}}") else values[match[1]]

    return _VARIABLE.sub(one, text)


def _reference(script: str) -> str:
    """The script with each `{name}` replaced by a quoted `${GENESIS_NAME}`."""
    out: list[str] = []
    quotes = _quote_states(script)
    last = 0
    for match in _VARIABLE.finditer(script):
        out.append(script[last : match.start()])
        last = match.end()
        if match[0] in ("{{", "}}"):
            out.append(match[0][0])
            continue
        ref = "${GENESIS_" + match[1].upper() + "}"
        state = quotes[match.start()]
        out.append({"'": "'\"" + ref + "\"'", '"': ref}.get(state, '"' + ref + '"'))
    out.append(script[last:])
    return "".join(out)


def _quote_states(script: str) -> list[str]:
    """For each character of a POSIX shell script: `'` inside single quotes, `"` inside double
    quotes, "" otherwise. `$(...)` and backquotes open a fresh unquoted context."""
    states: list[str] = []
    stack = [""]  # the quoting of each open context; "(" and "`" mark command substitutions
    i = 0
    while i < len(script):
        c, top = script[i], stack[-1]
        states.append(top if top in ("'", '"') else "")
        if top == "'":
            if c == "'":
                stack.pop()
        elif c == "\\" and i + 1 < len(script):
            states.append(states[-1])
            i += 1
        elif top == '"' and c == '"':
            stack.pop()
        elif top != '"' and c in "'\"":
            stack.append(c)
        elif c == "$" and script[i + 1 : i + 2] == "(":
            states.append(states[-1])
            stack.append("(")
            i += 1
        elif c == "`":
            if top == "`":
                stack.pop()
            else:
                stack.append("`")
        elif c == "(" and top == "(":
            stack.append("(")
        elif c == ")" and top == "(":
            stack.pop()
        i += 1
    return states
