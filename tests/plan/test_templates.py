from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from genesis_par.plan import templates
from genesis_par.plan.model import Command

HOSTILE = "$(touch PWNED) `touch PWNED2`; touch PWNED3 \"q\" 'it''s' \\ $HOME\nline two {task}"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("printf %s {prompt}", HOSTILE),
        ('printf %s "{prompt}"', HOSTILE),
        ("printf %s '{prompt}'", HOSTILE),
        ("printf %s 'before {prompt} after'", f"before {HOSTILE} after"),
        ('printf %s "$(printf %s {prompt})"', HOSTILE),
        ('printf %s "$(printf %s "{prompt}")"', HOSTILE),
        ("printf %s {{literal}} {task}_x", "{literal}t1_x"),
        ('printf %s "it\'s {task}" \'"{task}"\'', 'it\'s t1"t1"'),
        ('printf %s \\"{task}', '"t1'),
    ],
)
def test_shell_form_keeps_every_value_data_wherever_it_stands(
    tmp_path: Path, script: str, expected: str
) -> None:
    values = {"prompt": HOSTILE, "task": "t1"}
    argv, env = templates.expand(Command((script,), shell=True), values, {"PATH": "/usr/bin:/bin"})
    done = subprocess.run(
        ["/bin/sh", "-c", argv[0]], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected
    assert not list(tmp_path.iterdir())  # nothing was run: no PWNED files


# prompts that break a quoting analysis that is off by one quote, a comment or a line
PROMPTS = [HOSTILE, "EOF\nit's \\\n#'\"\n", "", "'", '"', "`", "$(", "\\"]

# (script, what it prints with the prompt at @); a None: the prompt through $(...), which drops
# trailing newlines
SHAPES = [
    ("# it's a comment\nprintf %s {prompt}", "@"),
    ('printf %s {prompt} # don\'t "quote" me', "@"),
    ("echo a#b' >/dev/null; printf %s {prompt}'", "a#b >/dev/null; printf %s @\n"),
    ("cat <<EOF\n{prompt}\nEOF", "@\n"),
    ("cat <<-EOF\n\t{prompt}\n\tEOF", "@\n"),
    ("cat <<'EOF'\nit's\nEOF\nprintf %s {prompt}", "it's\n@"),
    ('cat <<EOF\nit\'s "{prompt}" $(printf %s {prompt})\nEOF', None),
    ("cat <<A; cat <<'B'\n{prompt}\nA\nit's\nB\nprintf %s {prompt}", "@\nit's\n@"),
    ('printf %s "$(cat <<EOF\n{prompt}\nEOF\n)"', None),
    ('printf %s "`printf %s {prompt}`"', None),
    ("x='it''s'; printf %s {prompt}", "@"),
    ('printf %s "${UNSET:-{prompt}}"', "@"),
    ("printf %s '{prompt}'\"{prompt}\"{prompt}", "@@@"),
    ('printf %s "\\{prompt}" \\{prompt}', "\\@\\@"),
    ('f() { printf %s "$1"; }; f {prompt}', "@"),
    ('printf %s "$(case x in x) printf %s {prompt};; esac)"', None),
]


@pytest.mark.parametrize(("script", "prints"), SHAPES)
def test_the_prompt_arrives_byte_for_byte_whatever_shell_syntax_surrounds_it(
    tmp_path: Path, script: str, prints: str | None
) -> None:
    for prompt in PROMPTS:
        argv, env = templates.expand(
            Command((script,), shell=True), {"prompt": prompt}, {"PATH": "/usr/bin:/bin"}
        )
        done = subprocess.run(
            ["/bin/sh", "-c", argv[0]], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        if prints is None:
            lines = script.count("{prompt}") - 1  # the here-document's line shows it twice
            expected = (f'it\'s "{prompt}" ' if lines else "") + prompt.rstrip("\n")
            expected += "\n" if lines else ""
        else:
            expected = prints.replace("@", prompt)
        assert (done.returncode, done.stdout) == (0, expected), (prompt, argv[0], done.stderr)
        assert not list(tmp_path.iterdir())  # nothing was run: no PWNED files


def test_a_variable_in_a_quoted_here_document_cannot_be_expanded() -> None:
    assert templates.unexpandable("cat <<'EOF'\n{prompt}\nEOF\n") == "{prompt}"
    assert templates.unexpandable('cat <<"EOF"\n{task}\nEOF\n') == "{task}"
    assert templates.unexpandable("cat <<\\EOF\n{{x}} {task}\nEOF\n") == "{task}"
    assert templates.unexpandable("cat <<EOF\n{prompt}\nEOF\necho '{prompt}'") is None


def test_list_form_substitutes_into_each_argument() -> None:
    command = Command(("agent", "--task={task}", "{prompt}", "{{x}}"))
    argv, env = templates.expand(command, {"prompt": HOSTILE, "task": "t1"}, {"A": "1"})
    assert argv == ["agent", "--task=t1", HOSTILE, "{x}"]
    assert env == {"A": "1", "GENESIS_PROMPT": HOSTILE, "GENESIS_TASK": "t1"}


def test_genesis_variables_win_over_the_users_environment() -> None:
    _, env = templates.expand(Command(("x",)), {"prompt": "p"}, {"GENESIS_PROMPT": "other"})
    assert env["GENESIS_PROMPT"] == "p"


def test_presets_never_put_the_prompt_where_an_option_is_read() -> None:
    """A prompt starting with `-` (a Markdown list) must reach the agent as its prompt."""
    from genesis_par.plan.presets import PRESETS

    prompt = "- first item\n- second item"
    for name in ("claude", "codex", "aider", "gemini", "opencode"):
        argv, _ = templates.expand(PRESETS[name].agent.command, {"prompt": prompt}, {})
        at = next(i for i, a in enumerate(argv) if a.endswith(prompt))
        glued = argv[at] != prompt and argv[at].startswith("--") and "=" in argv[at]
        assert glued or argv[at - 1] == "--", (name, argv)
