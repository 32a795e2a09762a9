"""The meter: an attempt's log read as it grows, and $GENESIS_USAGE_FILE, both written by
the agent, so both read defensively."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from genesis_par.usage import Usage
from genesis_par.usage.formats import parser_for
from genesis_par.usage.meter import MAX_LINE, Meter
from tests.usage.samples import OUTPUT, TOTAL


def meter(tmp_path: Path, agent: str | None = "codex") -> Meter:
    log = tmp_path / "t.1.log"
    log.write_text("setup said this first\n")
    return Meter.at_end_of(log, parser_for(agent, None), tmp_path / "t.1.usage.json")


def append(m: Meter, text: str) -> None:
    with m.log.open("a") as handle:
        handle.write(text)


def test_usage_grows_with_the_log_and_a_half_written_line_waits(tmp_path: Path) -> None:
    m = meter(tmp_path)
    lines = OUTPUT["codex"]
    append(m, "\n".join(lines[:5]) + "\n" + lines[7][:20])
    assert m.poll().turns == 1
    append(m, lines[7][20:] + "\n")
    assert m.poll().turns == 2
    assert m.finish() == Usage(**TOTAL["codex"])  # type: ignore[arg-type]
    assert m.notes == []


def test_output_without_usage_is_a_note(tmp_path: Path) -> None:
    m = meter(tmp_path, "claude")
    append(m, "I am not JSON at all\n")
    assert not m.finish().known
    assert m.notes == [
        "no usage found in the agent's output: expected claude's stream-json events "
        "(--output-format stream-json --verbose)"
    ]


def test_the_usage_file_overrides_what_was_parsed_field_by_field(tmp_path: Path) -> None:
    m = meter(tmp_path)
    append(m, "\n".join(OUTPUT["codex"]) + "\n")
    m.usage_file.write_text(json.dumps({"cost_usd": 1.25, "model": "gpt-5-codex"}))
    usage = m.finish()
    assert (usage.input_tokens, usage.cost_usd, usage.model) == (32794, 1.25, "gpt-5-codex")


def test_any_command_can_declare_its_usage(tmp_path: Path) -> None:
    m = meter(tmp_path, None)
    m.usage_file.write_text(
        json.dumps(
            {"input_tokens": 5, "output_tokens": 7, "cost_usd": 0.5, "turns": 1, "model": "x"}
        )
    )
    assert m.finish() == Usage(5, 7, 0.5, 1, "x")
    assert m.notes == []


def test_bad_usage_file_fields_are_left_out_with_a_note(tmp_path: Path) -> None:
    m = meter(tmp_path, None)
    m.usage_file.write_text(json.dumps({"input_tokens": -3, "cost_usd": "lots", "turns": 2}))
    assert m.finish() == Usage(turns=2)
    assert len(m.notes) == 2 and "input_tokens must be a whole number" in m.notes[0]


@pytest.mark.timeout(10)
def test_a_fifo_in_place_of_the_usage_file_or_log_never_blocks(tmp_path: Path) -> None:
    m = meter(tmp_path)
    m.log.unlink()
    os.mkfifo(m.log)
    os.mkfifo(m.usage_file)
    assert not m.finish().known


def test_an_over_long_line_is_skipped_and_said(tmp_path: Path) -> None:
    m = meter(tmp_path)
    append(m, "x" * (MAX_LINE + 10))
    m.poll()
    append(m, "tail of the long line\n" + OUTPUT["codex"][4] + "\n")
    assert m.finish().turns == 1
    assert "over 1,048,576 bytes" in m.notes[0]


def test_an_earlier_attempts_usage_file_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "t.1.usage.json").write_text(json.dumps({"cost_usd": 9.0}))
    m = meter(tmp_path, None)
    assert m.finish().cost_usd is None


def test_deeply_nested_json_is_not_read_and_never_raises(tmp_path: Path) -> None:
    for agent in ("claude", "codex", "gemini"):
        folder = tmp_path / agent
        folder.mkdir()
        m = meter(folder, agent)
        append(
            m, '{"type": "result", "usage": ' + "[" * 200_000 + "\n{\n" + "[" * 200_000 + "\n}\n"
        )
        m.usage_file.write_text("[" * 60_000)
        assert not m.finish().known
        assert any("nested too deeply" in n for n in m.notes)
