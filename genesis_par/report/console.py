"""The consoles every renderer prints to."""

from __future__ import annotations

from rich.console import Console

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def emit(text: str) -> None:
    """Machine-readable text (JSON, XML, HTML) on stdout, exactly as given."""
    print(text)
