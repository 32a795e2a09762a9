"""The consoles every renderer prints to, and how a table meets the width it is given."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:  # tables are made by the views that print them: no import at every start
    from rich.table import Table

# emoji off: a `:name:` in a path, a command or a reason is printed as it is, not as an emoji
# (rich's table of emoji codes is not loaded either: 3 ms of every command that prints)
console = Console(highlight=False, soft_wrap=True, emoji=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

# Wide enough for any table we print; rich lays a table out at its natural width below this.
_NO_WIDTH_LIMIT = 100_000


def emit(text: str) -> None:
    """Machine-readable text (JSON, XML, HTML) on stdout, exactly as given."""
    print(text)


def in_terminal(out: Console = console) -> bool:
    """Whether a person reads out in a terminal of known width (FORCE_COLOR in CI is not one)."""
    isatty = getattr(out.file, "isatty", None)
    return out.is_terminal and isatty is not None and bool(isatty())


def print_table(table: Table, out: Console = console) -> None:
    """A table with every value whole: at its natural width in a pipe or a CI log (`| cat`,
    `| grep`), folded (never cut) to a terminal's width. Name columns fold by `name_column`."""
    if in_terminal(out):
        out.print(table)
        return
    Console(file=out.file, width=_NO_WIDTH_LIMIT, highlight=False, emoji=False).print(table)


def name_column(table: Table, header: str) -> None:
    """A column of names (tasks, branches, runs): folded onto more lines when narrow, never
    shortened with `…`, so two long names that differ at their end stay apart."""
    table.add_column(header, overflow="fold")
