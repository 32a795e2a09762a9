"""The one error type users see, and its few subclasses, each with its exit code."""

from __future__ import annotations

from genesis_par.model import ExitCode


class GenesisError(Exception):
    """A failure the user can fix; printed as one line, never a traceback."""

    exit_code: int = ExitCode.USAGE


class UsageError(GenesisError):
    """Bad usage: an unknown run, a file that exists, a bad option value."""

    exit_code = ExitCode.USAGE


class PlanError(GenesisError):
    """A plan that cannot be used; the message names the file, task and key."""

    exit_code = ExitCode.USAGE


class EnvironmentProblem(GenesisError):
    """Not a git repository, git too old, a base ref missing, an agent not installed."""

    exit_code = ExitCode.ENVIRONMENT


class StoreProblem(EnvironmentProblem):
    """The state store cannot be used: disk full, read-only, locked, damaged."""


class GitError(GenesisError):
    """A git command failed; the message keeps git's stderr."""

    exit_code = ExitCode.ENVIRONMENT


class Interrupted(GenesisError):
    """The user interrupted the run (Ctrl-C or SIGTERM)."""

    exit_code = ExitCode.INTERRUPTED
