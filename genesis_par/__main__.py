"""`python -m genesis_par` and the `genesis-par` command: `--version` answered before the
command-line app (Typer, rich, pydantic: most of the start-up) is imported; the rest to it."""

import sys


def main() -> None:
    """The entry point."""
    if sys.argv[1:] == ["--version"]:
        from genesis_par import __version__

        sys.stdout.write(f"genesis-par {__version__}\n")
        return
    from genesis_par.cli import main as app_main

    app_main()


if __name__ == "__main__":
    main()
