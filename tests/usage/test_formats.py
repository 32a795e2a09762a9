"""Each preset's parser against a recorded sample of its agent's real output format (the
samples and where their shapes come from: tests/usage/samples.py)."""

from __future__ import annotations

import pytest

from genesis_par.usage import Usage
from genesis_par.usage.formats import parser_for
from tests.usage.samples import MODEL, OUTPUT, TOTAL

AGENTS = ["claude", "codex", "gemini", "aider"]


def parse(agent: str, lines: list[str]) -> Usage:
    parser = parser_for(agent, None)
    assert parser is not None
    for line in lines:
        parser.feed(line)
    return parser.usage()


@pytest.mark.parametrize("agent", AGENTS)
def test_the_sample_parses_to_its_totals(agent: str) -> None:
    usage = parse(agent, OUTPUT[agent])
    assert usage == Usage(**TOTAL[agent], model=MODEL[agent])  # type: ignore[arg-type]


@pytest.mark.parametrize("agent", AGENTS)
def test_garbage_and_nothing_parse_to_nothing(agent: str) -> None:
    garbage = ["{not json", '{"type": "result", "usage": "many"}', "\x1b[31mTokens: lots", "}"]
    assert not parse(agent, garbage).known
    assert not parse(agent, []).known


def test_claude_counts_live_steps_once_each_then_the_result_replaces_them() -> None:
    lines = OUTPUT["claude"]
    live = parse("claude", lines[:3])  # init and one step, printed twice (two content blocks)
    assert (live.input_tokens, live.output_tokens, live.cost_usd) == (13012, 40, None)
    assert parse("claude", lines).cost_usd == pytest.approx(0.0421)


def test_codex_adds_up_turn_by_turn() -> None:
    assert parse("codex", OUTPUT["codex"][:5]).input_tokens == 26549


def test_a_parser_is_chosen_by_agent_name_or_program() -> None:
    assert type(parser_for(None, "/usr/local/bin/codex")).__name__ == "Codex"
    assert type(parser_for("claude", "my-wrapper")).__name__ == "Claude"
    assert parser_for("shell", "sh") is None
    assert parser_for(None, None) is None
