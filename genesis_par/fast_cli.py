"""Commands answered without the Typer app (issue 19: start-up). Typer's argument parsing
imports pydantic, and with rich that is most of a short command's time: `--version` and the
plain forms of `conflicts` (the command CI scripts call in loops) are parsed here instead.
Anything else, `--help` and every mistake included, goes to the Typer app, which says it."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing's own costs more than `--version` itself
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from genesis_par.errors import GenesisError

_VALUED = ("--into", "--run")


def answer(args: Sequence[str]) -> int | None:
    """The exit code of a command answered here; None for the Typer app to answer."""
    if list(args) == ["--version"]:
        from genesis_par import __version__

        sys.stdout.write(f"genesis-par {__version__}\n")
        return 0
    if args[:1] == ["conflicts"]:
        parsed = _conflicts_args(args[1:])
        if parsed is not None:
            return guarded(lambda: _conflicts(*parsed), as_json="--json" in args)
    return None


def _conflicts_args(args: Sequence[str]) -> tuple[list[str], dict[str, str], bool] | None:
    """(branches, {"--into": ..., "--run": ...}, --json) as Typer would read them, or None for
    anything this parser does not take on (options it does not know, a value like an option)."""
    branches: list[str] = []
    values: dict[str, str] = {}
    as_json = False
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        if arg == "--json":
            as_json = True
        elif name in _VALUED and eq:
            values[name] = value
        elif arg in _VALUED and rest and not rest[0].startswith("-"):
            values[arg] = rest.pop(0)
        elif arg.startswith("-") or not arg:
            return None
        else:
            branches.append(arg)
    return branches, values, as_json


def _conflicts(branches: list[str], values: dict[str, str], as_json: bool) -> int:
    from pathlib import Path

    from genesis_par.commands import conflicts

    into, run = values.get("--into"), values.get("--run")
    return conflicts.run(Path.cwd(), branches, into=into, run_name=run, as_json=as_json)


def guarded(command: Callable[[], int], as_json: bool) -> int:
    """Run a command as the app's main() does: SIGTERM ends it like Ctrl-C (130), and a
    GenesisError becomes one line (and, under --json, one object) with its exit code."""
    # imported here, as the command's own modules are: `--version` needs none of them
    import signal

    from genesis_par.errors import GenesisError

    signal.signal(signal.SIGTERM, _as_interrupt)
    try:
        return command()
    except KeyboardInterrupt:
        return 130
    except GenesisError as e:
        report_error(e, as_json)
        return e.exit_code


def report_error(error: GenesisError, as_json: bool) -> None:
    """One line on stderr; under --json also an object on stdout, for a CI step reading it."""
    from rich.markup import escape

    from genesis_par.report.console import err_console

    err_console.print(f"[red]error:[/] {escape(str(error))}")
    if as_json:
        import json

        print(json.dumps({"ok": False, "error": str(error), "exit_code": error.exit_code}))


def _as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
