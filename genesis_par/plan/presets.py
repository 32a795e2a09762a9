"""Built-in agents: how each coding agent runs headless, and how to install it.

Flags checked against each agent's own documentation; the sources are in docs/agents.md. Each
preset that can turns on its agent's machine-readable output, which genesis_par.usage reads
for tokens and cost (the log keeps it as printed). The
prompt is never where an option could be read: after `--`, or glued to its option with `=`, so
a prompt that starts with `-` (a Markdown list in a prompt file) stays the prompt.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from typing import NamedTuple

from genesis_par.plan.model import Agent, Command


class Preset(NamedTuple):
    agent: Agent
    install: str  # how a user installs the binary


def _preset(name: str, argv: tuple[str, ...], install: str) -> Preset:
    return Preset(Agent(name, Command(argv)), install)


PRESETS: Mapping[str, Preset] = {
    p.agent.name: p
    for p in (
        _preset(
            "claude",
            (
                "claude",
                "-p",
                "--output-format",
                "stream-json",
                "--verbose",
                "--permission-mode",
                "acceptEdits",
                "--",
                "{prompt}",
            ),
            "npm install -g @anthropic-ai/claude-code",
        ),
        _preset(
            "codex",
            ("codex", "exec", "--json", "--sandbox", "workspace-write", "--", "{prompt}"),
            "npm install -g @openai/codex",
        ),
        _preset(
            "aider",
            (
                "aider",
                "--message={prompt}",
                "--yes-always",
                "--no-auto-commits",
                "--no-gitignore",
                "--no-check-update",
                "--no-pretty",
            ),
            "python -m pip install aider-install && aider-install",
        ),
        _preset(
            "gemini",
            ("gemini", "--output-format", "json", "--approval-mode", "yolo", "--prompt={prompt}"),
            "npm install -g @google/gemini-cli",
        ),
        _preset("opencode", ("opencode", "run", "--", "{prompt}"), "npm install -g opencode-ai"),
        _preset(
            "cursor-agent",
            ("cursor-agent", "-p", "--force", "{prompt}"),
            "curl https://cursor.com/install -fsS | bash",
        ),
        _preset("shell", ("sh", "-c", "{prompt}"), "a POSIX shell (sh) is part of the system"),
    )
}


def executable(agent: Agent) -> str | None:
    """The program an agent's command starts, when that can be known (list form)."""
    return None if agent.command.shell else agent.command.argv[0]


def installed(agent: Agent) -> str | None:
    """The path of the agent's program on PATH, or None."""
    program = executable(agent)
    return shutil.which(program) if program else None


def install_hint(name: str) -> str:
    """How to install a preset agent (or a generic hint)."""
    preset = PRESETS.get(name)
    return preset.install if preset else "install it, or fix [agents." + name + "] command"


def find_agent(name: str, agents: Mapping[str, Agent]) -> Agent | None:
    """The agent a task names: the plan's own [agents.NAME] table, else a built-in preset."""
    if name in agents:
        return agents[name]
    preset = PRESETS.get(name)
    return preset.agent if preset else None
