"""One raw TOML value in, a typed value out, or a PlanError naming the file, task and key."""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from genesis_par.errors import PlanError

E = TypeVar("E", bound=enum.Enum)

_BRANCH_COMPONENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


class Where:
    """Builds error lines that name the file, the task and the key."""

    def __init__(
        self, path: Path, task: str | None = None, inherited: frozenset[str] = frozenset()
    ) -> None:
        self.path, self.task = path, task
        self.inherited = inherited  # keys the task took from [defaults]

    def error(self, message: str) -> PlanError:
        """`plan.toml: task "a": <message>`; a key the task inherited is blamed on [defaults]."""
        key = message.split(" ", 1)[0]
        if self.task and key in self.inherited:
            where = f'{self.path.name}: [defaults] (for task "{self.task}"): '
        elif self.task:
            where = f'{self.path.name}: task "{self.task}": '
        else:
            where = f"{self.path.name}: "
        return PlanError(where + message)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    import difflib  # here, not at every start: only a plan with a mistake needs it

    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def check_keys(table: Mapping[str, Any], allowed: frozenset[str], where: Where, what: str) -> None:
    for key in table:
        if key not in allowed:
            hint = did_you_mean(key, allowed) or f" (known keys: {', '.join(sorted(allowed))})"
            raise where.error(f'unknown key "{key}" in {what}{hint}')


def typed(value: Any, kind: type | tuple[type, ...], where: Where, key: str, expect: str) -> Any:
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise where.error(f"{key} must be {expect}, not {value!r}")
    if not isinstance(value, kind):
        raise where.error(f"{key} must be {expect}, not {type(value).__name__} {value!r}")
    return value


MAX_NAME = 100  # run names and task ids become file names and branch name components


def check_branch_component(name: str, what: str, path: Path | None = None) -> None:
    """Refuse a name that cannot be one component of a git branch name (or a file name)."""
    prefix = f"{path.name}: " if path else ""
    bad = not _BRANCH_COMPONENT.fullmatch(name) or ".." in name or name.endswith((".lock", "."))
    if bad:
        raise PlanError(
            f"{prefix}{what} cannot be used in a git branch name: use letters, digits, "
            "'.', '_' and '-', starting with a letter or digit"
        )
    if len(name) > MAX_NAME:
        raise PlanError(f"{prefix}{what[:40]}... is {len(name)} characters: keep it to {MAX_NAME}")


_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|//|@\{")


REF_NAME_RULES = (
    'no spaces, "..", "~^:?*[\\", no part starting with "." or ending with ".lock", '
    'not starting with "-", not HEAD'
)


_PSEUDO_REF = re.compile(r"[A-Z_]*HEAD")  # HEAD, FETCH_HEAD, ORIG_HEAD: git reads these first


def is_branch_name(name: str) -> bool:
    """What `git check-ref-format --branch` accepts of the short name (a full refs/heads/
    name too), less the names git would read as something else: HEAD and its kin, `-x`."""
    short = name.removeprefix("refs/heads/")
    parts = short.split("/")
    return not (
        not short
        or _REF_FORBIDDEN.search(short)
        or short.startswith(("/", "-"))
        or short.endswith(("/", ".", ".lock"))
        or short == "@"
        or _PSEUDO_REF.fullmatch(short)
        or any(not part or part.startswith(".") or part.endswith(".lock") for part in parts)
    )


def branch_problem(name: str) -> str | None:
    """Why name cannot be a branch the tool creates and moves, or None."""
    if name.startswith("refs/") and not name.startswith("refs/heads/"):
        return (
            "is not a branch (a tag or another kind of ref): name a branch, like "
            '"genesis/{run}/integration" or "refs/heads/NAME"'
        )
    if not is_branch_name(name):
        return f"is not a valid branch name: {REF_NAME_RULES}"
    if name.removeprefix("refs/heads/").startswith("refs/"):
        return 'is ambiguous (a branch whose name starts with "refs/"): name it plainly'
    return None


def check_ref_name(name: str, where: Where, key: str) -> None:
    """Refuse a name git would not take as a branch."""
    problem = branch_problem(name)
    if problem:
        raise where.error(f'{key} "{name}" {problem}')


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_env(table: Mapping[str, Any], where: Where) -> None:
    """Environment variable names a shell can use, and string values without NUL."""
    for key, value in table.items():
        if not _ENV_NAME.fullmatch(key):
            raise where.error(
                f'env name "{key}" is not a variable name: use letters, digits and "_", '
                "not starting with a digit"
            )
        if not isinstance(value, str):
            raise where.error(f'env "{key}" must be a string, not {type(value).__name__} {value!r}')
        if "\0" in value:
            raise where.error(f'env "{key}" contains a NUL character')


def check_no_nul(value: str, where: Where, key: str) -> None:
    """Refuse a NUL character: no argument or environment variable of a process can hold one."""
    if "\0" in value:
        raise where.error(
            f"{key} contains a NUL character (\\u0000), which no command line or environment "
            "variable can carry: remove it"
        )


def parse_duration(value: Any, where: Where, key: str) -> float:
    """`90s`, `30m`, `1h30m` or a plain number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.fullmatch(value.strip())) and any(m.groups()):
        h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        seconds = h * 3600 + mi * 60 + s
    else:
        raise where.error(
            f'{key} "{value}" is not a duration: write e.g. "90s", "30m", "1h30m" or seconds'
        )
    if not math.isfinite(seconds) or seconds <= 0:
        raise where.error(f"{key} must be positive and finite, not {value!r}")
    return seconds


def format_size(size: int) -> str:
    """`200 MiB`, `1.5 GiB`: a size as a person writes it in a plan."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        if size >= _SIZE_UNITS[unit.lower()]:
            return f"{size / _SIZE_UNITS[unit.lower()]:.4g} {unit}"
    return f"{size} bytes"


def parse_size(value: Any, where: Where, key: str) -> int:
    """`512MiB`, `4GiB`, `2GB` or a plain number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and (m := _SIZE.fullmatch(value.strip())):
        size = int(float(m[1]) * _SIZE_UNITS[(m[2] or "b").lower()])
    else:
        raise where.error(
            f'{key} "{value}" is not a size: write e.g. "512MiB", "4GiB", "2GB" or bytes'
        )
    if size <= 0:
        raise where.error(f"{key} must be positive, not {value!r}")
    return size


def enum_value(value: Any, kind: type[E], where: Where, key: str) -> E:
    choices = {m.value if isinstance(m.value, str) else m.name.lower(): m for m in kind}
    if not isinstance(value, str) or value not in choices:
        hint = did_you_mean(str(value), choices)
        raise where.error(f'{key} "{value}" is not one of {", ".join(choices)}{hint}')
    return choices[value]


def strings(value: Any, where: Where, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise where.error(f"{key} must be a list of strings")
    return tuple(value)


def dollars(raw: Mapping[str, Any], key: str, where: Where, name: str) -> float | None:
    """An amount of US dollars (budget_usd, max_cost_usd), or None when not given."""
    if key not in raw:
        return None
    value = typed(raw[key], (int, float), where, name, "a number of US dollars")
    if not math.isfinite(value) or value < 0:
        raise where.error(
            f"{name} must be a finite number of US dollars, not negative, not {value}"
        )
    return float(value)
