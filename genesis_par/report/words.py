"""Counts in sentences: `1 task`, `2 tasks`, `1 branch`, `3 branches`."""

from __future__ import annotations

_SIBILANT_ENDINGS = ("s", "sh", "ch", "x", "z")


def plural_of(noun: str) -> str:
    """The English plural of a regular noun (the only kind our messages count)."""
    if noun.endswith(_SIBILANT_ENDINGS):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
        return noun[:-1] + "ies"
    return noun + "s"


def plural(n: int, noun: str, many: str | None = None) -> str:
    """`n noun` with the noun agreeing with n; many is the plural when it is irregular."""
    return f"{n} {noun if n == 1 else many or plural_of(noun)}"
