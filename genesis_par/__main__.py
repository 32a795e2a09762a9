"""`python -m genesis_par` and the `genesis-par` command: what `fast_cli` answers without the
command-line app (Typer, rich, pydantic: most of the start-up), the rest by the app."""

import gc
import sys


def main() -> None:
    """The entry point."""
    # No collection while the command's modules load (their objects are young and all stay):
    # about 8 ms of a run's start; fast_cli.imports_done() turns it back on.
    gc.disable()
    try:
        _answer()
    finally:
        # Everything alive now lives until the process ends: frozen, Python's teardown neither
        # looks through it for cycles nor takes them apart (20 ms of every command's exit)
        gc.freeze()


def _answer() -> None:
    from genesis_par import fast_cli

    code = fast_cli.answer(sys.argv[1:])
    if code is not None:
        raise SystemExit(code)
    from genesis_par.cli import main as app_main

    fast_cli.imports_done()
    app_main()


if __name__ == "__main__":
    main()
