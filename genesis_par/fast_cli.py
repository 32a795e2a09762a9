"""Commands answered without the Typer app (issue 19: start-up). Typer's argument parsing
imports pydantic, and with rich that is most of a short command's time: `--version`, the
plain forms of `conflicts` (the command CI scripts call in loops) and of `run` (its start is
paid by every run) are parsed here instead.
Anything else, `--help` and every mistake included, goes to the Typer app, which says it."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing's own costs more than `--version` itself
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from genesis_par.errors import GenesisError

_CONFLICTS_VALUED = ("--into", "--run")
_RUN_VALUED = ("--name", "--into", "--isolation", "--metrics", "--backend", "--ray-address")
_RUN_FLAGS = ("--fail-fast", "--no-merge", "--json")


def answer(args: Sequence[str]) -> int | None:
    """The exit code of a command answered here; None for the Typer app to answer."""
    if list(args) == ["--version"]:
        from genesis_par import __version__

        sys.stdout.write(f"genesis-par {__version__}\n")
        return 0
    if args[:1] == ["conflicts"]:
        parsed = _parse(args[1:], _CONFLICTS_VALUED, ("--json",))
        if parsed is not None:
            branches, values, flags = parsed
            return guarded(lambda: _conflicts(branches, values, flags), as_json="--json" in flags)
    if args[:1] == ["run"]:
        parsed = _parse(args[1:], _RUN_VALUED, _RUN_FLAGS)
        if parsed is not None and len(parsed[0]) == 1:
            (plan,), values, flags = parsed
            return guarded(lambda: _run(plan, values, flags), as_json="--json" in flags)
    return None


def _parse(
    args: Sequence[str], valued: Sequence[str], known_flags: Sequence[str]
) -> tuple[list[str], dict[str, str], set[str]] | None:
    """(arguments, {option: value}, flags given) as Typer would read them, or None for anything
    this parser does not take on (options it does not know, a value like an option)."""
    arguments: list[str] = []
    values: dict[str, str] = {}
    flags: set[str] = set()
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        if arg in known_flags:
            flags.add(arg)
        elif name in valued and eq:
            values[name] = value
        elif arg in valued and rest and not rest[0].startswith("-"):
            values[arg] = rest.pop(0)
        elif arg.startswith("-") or not arg:
            return None
        else:
            arguments.append(arg)
    return arguments, values, flags


def _conflicts(branches: list[str], values: dict[str, str], flags: set[str]) -> int:
    from pathlib import Path

    from genesis_par.commands import conflicts

    imports_done()

    into, run = values.get("--into"), values.get("--run")
    return conflicts.run(Path.cwd(), branches, into=into, run_name=run, as_json="--json" in flags)


def _run(plan: str, values: dict[str, str], flags: set[str]) -> int:
    from pathlib import Path

    from genesis_par import warden_link

    # The warden (a Python start of its own) starts on the core the imports below leave idle,
    # not beside the first tasks' checkouts; a run that stops early ends it as it exits.
    if values.get("--backend") != "ray":
        warden_link.start_ahead()

    from genesis_par.commands import run

    imports_done()

    metrics = values.get("--metrics")
    return run.run(
        Path.cwd(),
        Path(plan),
        name=values.get("--name"),
        as_json="--json" in flags,
        fail_fast="--fail-fast" in flags,
        no_merge="--no-merge" in flags,
        into=values.get("--into"),
        isolation=values.get("--isolation"),
        metrics=None if metrics is None else Path(metrics),
        backend=values.get("--backend"),
        ray_address=values.get("--ray-address"),
    )


def imports_done() -> None:
    """The command's modules are loaded (`__main__` turned collection off for that): what they
    made is kept out of every later collection (frozen), and collection is on again."""
    import gc

    gc.freeze()
    gc.enable()


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
