"""Recorded samples of each agent's machine-readable output, in the shapes its own sources
define (rewritten with our own values; where each shape comes from is said above each).

Scripted agents in the tests print these, so a parser is pinned to the real format."""

from __future__ import annotations

import json
from typing import Any

# Claude Code, `claude -p --output-format stream-json --verbose`: one JSON object a line; a
# `system`/`init` event names the model; `assistant` events wrap an Anthropic Messages object
# whose `usage` is the step's (every content block of a step repeats its `id` and `usage`); the
# last line is the `result` event with `total_cost_usd`, `usage`, `num_turns`, `modelUsage`.
# Sources: code.claude.com/docs/en/agent-sdk/cost-tracking (per-step usage shared by message id,
# cumulative totals on the result message), the Agent SDK reference `SDKResultMessage` (type,
# subtype, duration_ms, num_turns, total_cost_usd, usage, modelUsage), and code.claude.com
# headless docs ("stream-json ... the last line is the same result object").
CLAUDE_STREAM: list[dict[str, Any]] = [
    {
        "type": "system",
        "subtype": "init",
        "cwd": "/work",
        "session_id": "5d0c6c8e-0000-4000-8000-000000000001",
        "tools": ["Bash", "Edit", "Read"],
        "model": "claude-sonnet-4-5-20250929",
        "permissionMode": "acceptEdits",
    },
    {
        "type": "assistant",
        "message": {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": "Reading the tests first."}],
            "usage": {
                "input_tokens": 12,
                "cache_creation_input_tokens": 3000,
                "cache_read_input_tokens": 10000,
                "output_tokens": 40,
            },
        },
        "parent_tool_use_id": None,
        "session_id": "5d0c6c8e-0000-4000-8000-000000000001",
    },
    {
        "type": "assistant",
        "message": {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}],
            "usage": {
                "input_tokens": 12,
                "cache_creation_input_tokens": 3000,
                "cache_read_input_tokens": 10000,
                "output_tokens": 40,
            },
        },
        "parent_tool_use_id": None,
        "session_id": "5d0c6c8e-0000-4000-8000-000000000001",
    },
    {
        "type": "user",
        "message": {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}],
        },
        "session_id": "5d0c6c8e-0000-4000-8000-000000000001",
    },
    {
        "type": "assistant",
        "message": {
            "id": "msg_02",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": "Done."}],
            "usage": {
                "input_tokens": 20,
                "cache_creation_input_tokens": 100,
                "cache_read_input_tokens": 13000,
                "output_tokens": 260,
            },
        },
        "parent_tool_use_id": None,
        "session_id": "5d0c6c8e-0000-4000-8000-000000000001",
    },
    {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "duration_ms": 21000,
        "duration_api_ms": 19000,
        "num_turns": 3,
        "result": "Done.",
        "session_id": "5d0c6c8e-0000-4000-8000-000000000001",
        "total_cost_usd": 0.0421,
        "usage": {
            "input_tokens": 32,
            "cache_creation_input_tokens": 3100,
            "cache_read_input_tokens": 23000,
            "output_tokens": 300,
            "server_tool_use": {"web_search_requests": 0},
            "service_tier": "standard",
        },
        "modelUsage": {
            "claude-sonnet-4-5-20250929": {
                "inputTokens": 32,
                "outputTokens": 300,
                "cacheReadInputTokens": 23000,
                "cacheCreationInputTokens": 3100,
                "costUSD": 0.0421,
            }
        },
        "permission_denials": [],
    },
]
CLAUDE_TOTAL = dict(input_tokens=32 + 3100 + 23000, output_tokens=300, cost_usd=0.0421, turns=3)

# Codex CLI, `codex exec --json`: JSONL `ThreadEvent`s tagged by `type` (thread.started,
# turn.started, item.started/updated/completed, turn.completed, turn.failed, error);
# `turn.completed` carries `usage` {input_tokens, cached_input_tokens, output_tokens} for that
# turn. Source: openai/codex codex-rs/exec/src/exec_events.rs (ThreadEvent, TurnCompletedEvent,
# Usage), and the sample in openai/codex issue 5276.
CODEX_EVENTS: list[dict[str, Any]] = [
    {"type": "thread.started", "thread_id": "0199a213-81c0-7800-8aa1-bbab2a035a53"},
    {"type": "turn.started"},
    {
        "type": "item.completed",
        "item": {"id": "item_0", "type": "reasoning", "text": "**Looking at the repo**"},
    },
    {
        "type": "item.completed",
        "item": {
            "id": "item_1",
            "type": "command_execution",
            "command": "bash -lc ls",
            "aggregated_output": "README.md\n",
            "exit_code": 0,
            "status": "completed",
        },
    },
    {
        "type": "turn.completed",
        "usage": {"input_tokens": 26549, "cached_input_tokens": 22272, "output_tokens": 1590},
    },
    {"type": "turn.started"},
    {"type": "item.completed", "item": {"id": "item_2", "type": "agent_message", "text": "Done."}},
    {
        "type": "turn.completed",
        "usage": {"input_tokens": 6245, "cached_input_tokens": 5376, "output_tokens": 407},
    },
]
CODEX_TOTAL = dict(input_tokens=26549 + 6245, output_tokens=1590 + 407, cost_usd=None, turns=2)

# Gemini CLI, `gemini --output-format json`: one object `{response, stats, error?}` printed at
# the end with JSON.stringify(..., null, 2); `stats` is the session's SessionMetrics:
# `models.<name>.api.totalRequests` and `models.<name>.tokens` {input, prompt, candidates,
# total, cached, thoughts, tool}. Source: google-gemini/gemini-cli
# packages/core/src/output/types.ts (JsonOutput) and json-formatter.test.ts (a two-model
# stats object); geminicli.com/docs/cli/headless ("JSON output").
GEMINI_OUTPUT = {
    "session_id": "8f1c2d3e-0000-4000-8000-000000000002",
    "response": "I added the test.",
    "stats": {
        "models": {
            "gemini-2.5-pro": {
                "api": {"totalRequests": 2, "totalErrors": 0, "totalLatencyMs": 5672},
                "tokens": {
                    "input": 13745,
                    "prompt": 24401,
                    "candidates": 215,
                    "total": 24719,
                    "cached": 10656,
                    "thoughts": 103,
                    "tool": 0,
                },
                "roles": {},
            },
            "gemini-2.5-flash": {
                "api": {"totalRequests": 1, "totalErrors": 0, "totalLatencyMs": 914},
                "tokens": {
                    "input": 803,
                    "prompt": 803,
                    "candidates": 16,
                    "total": 857,
                    "cached": 0,
                    "thoughts": 38,
                    "tool": 0,
                },
                "roles": {},
            },
        },
        "tools": {"totalCalls": 1, "totalSuccess": 1, "totalFail": 0, "totalDurationMs": 4582},
        "files": {"totalLinesAdded": 3, "totalLinesRemoved": 0},
    },
}
GEMINI_TOTAL = dict(
    input_tokens=24401 + 803, output_tokens=215 + 103 + 16 + 38, cost_usd=None, turns=3
)

# aider (with --no-pretty, plain lines): the announcement names the model ("Model: ... with
# ... edit format"; "Main model:" in newer versions); after each reply Coder.calculate_and_show
# _tokens_and_cost prints `Tokens: <sent> sent[, <n> cache write][, <n> cache hit], <received>
# received.` then ` Cost: $<message> message, $<session> session.` (on its own line when both
# cache counts are shown); format_tokens writes 999, 2.6k, 12k. The per-message counters reset
# after each report; `session` is the running total. Source: Aider-AI/aider
# aider/coders/base_coder.py (calculate_and_show_tokens_and_cost, show_usage_report) and
# aider/utils.py (format_tokens).
AIDER_LINES = [
    "Aider v0.86.1",
    "Main model: anthropic/claude-sonnet-4-5 with diff edit format, infinite output",
    "Git repo: .git with 12 files",
    "Repo-map: using 4096 tokens, auto refresh",
    "",
    "I'll add the function to util.py.",
    "",
    "Tokens: 2.6k sent, 81 received. Cost: $0.0090 message, $0.0090 session.",
    "Applied edit to util.py",
    "Tokens: 12k sent, 1.2k cache write, 3.4k cache hit, 512 received.",
    "Cost: $0.05 message, $0.06 session.",
]
AIDER_TOTAL = dict(input_tokens=2600 + 12000, output_tokens=81 + 512, cost_usd=0.06, turns=2)


def lines_of(events: list[dict[str, Any]]) -> list[str]:
    """JSONL: one compact object a line, as the agents print them."""
    return [json.dumps(e, separators=(",", ":")) for e in events]


def gemini_lines() -> list[str]:
    """The pretty-printed object, as JSON.stringify(output, null, 2) prints it."""
    return json.dumps(GEMINI_OUTPUT, indent=2).splitlines()


OUTPUT = {
    "claude": lines_of(CLAUDE_STREAM),
    "codex": lines_of(CODEX_EVENTS),
    "gemini": gemini_lines(),
    "aider": AIDER_LINES,
}
TOTAL = {"claude": CLAUDE_TOTAL, "codex": CODEX_TOTAL, "gemini": GEMINI_TOTAL, "aider": AIDER_TOTAL}
MODEL = {
    "claude": "claude-sonnet-4-5-20250929",
    "codex": None,
    "gemini": "gemini-2.5-pro, gemini-2.5-flash",
    "aider": "anthropic/claude-sonnet-4-5",
}
