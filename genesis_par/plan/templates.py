"""Expand `{prompt}`-style variables in command templates, never turning data into code."""

from __future__ import annotations

import re
from collections.abc import Mapping

from genesis_par.errors import PlanError
from genesis_par.plan.model import MAX_PROMPT_ARG, Command

_VARIABLE = re.compile(r"\{\{|\}\}|\{([a-z_]+)\}")


def expand(
    command: Command, values: Mapping[str, str], env: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    """argv and environment for a command.

    List form: each value is substituted into its argument (no shell ever sees it). Shell
    form: each variable becomes a reference to its GENESIS_* environment variable, quoted for
    the place it stands in (bare, inside "..." or inside '...'), so the shell never parses a
    value: a prompt holding `$(...)`, quotes or newlines stays data even in `"{prompt}"`.
    """
    full_env = {**env, **environment(values)}
    if not command.shell:
        return [_substitute(part, values) for part in command.argv], full_env
    return [_reference(command.argv[0])], full_env


def environment(values: Mapping[str, str]) -> dict[str, str]:
    """The same values as GENESIS_* variables; a prompt too long for one variable (Linux
    refuses over 128 KiB) is left to GENESIS_PROMPT_FILE."""
    return {
        f"GENESIS_{name.upper()}": value
        for name, value in values.items()
        if len(value.encode()) <= MAX_PROMPT_ARG
    }


def _substitute(text: str, values: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        return match[0][0] if match[0] in ("{{", "}}") else values[match[1]]

    return _VARIABLE.sub(one, text)


# what each quoting does to a `{name}` standing in it: the text that puts the GENESIS_*
# variable there as one piece of data (None: the shell expands nothing there)
_IN_QUOTES = {
    "": '"{ref}"',  # unquoted (a comment too: if it is not one, this is still right)
    '"': "{ref}",
    "'": "'\"{ref}\"'",  # close the single quotes, expand in double quotes, reopen
    "h": "{ref}",  # the body of a here-document: expanded, never split or globbed
    "q": None,  # the body of a quoted here-document (<<'EOF'): nothing is expanded
}


def unexpandable(script: str) -> str | None:
    """The first variable of a shell script that stands where the shell expands nothing (the
    body of a quoted here-document), as `{name}`; None when every one can be expanded."""
    states = _Scanner(script).states()
    for match in _VARIABLE.finditer(script):
        if match[1] is not None and _IN_QUOTES[states[match.start()]] is None:
            return match[0]
    return None


def _reference(script: str) -> str:
    """The script with each `{name}` replaced by a quoted `${GENESIS_NAME}`."""
    out: list[str] = []
    states = _Scanner(script).states()
    last = 0
    for match in _VARIABLE.finditer(script):
        out.append(script[last : match.start()])
        last = match.end()
        if match[0] in ("{{", "}}"):
            out.append(match[0][0])
            continue
        state = states[match.start()]
        form = _IN_QUOTES[state]
        if form is None:  # plan validation refuses these
            raise PlanError(f"{match[0]} stands in a quoted here-document: nothing expands there")
        # an odd run of backslashes before it would escape the quote or `$` put here: one more
        # makes them literal backslashes, as they were before `{name}`
        backslashes = len(script[: match.start()]) - len(script[: match.start()].rstrip("\\"))
        escape = "\\" if state != "'" and backslashes % 2 else ""
        out.append(escape + form.format(ref="${GENESIS_" + match[1].upper() + "}"))
    out.append(script[last:])
    return "".join(out)


_WORD_BREAK = " \t\n;&|()<>"  # after these a `#` starts a comment and a word ends


class _Scanner:
    """The quoting each character of a POSIX shell script stands in: `'`, `"`, `#` (a comment,
    reported as unquoted), `h` (a here-document's body), `q` (a quoted one's), "" (unquoted).
    Command substitutions, `$(...)` and backquotes, open a fresh unquoted context anywhere."""

    def __init__(self, script: str) -> None:
        self.s = script
        self.marks = [""] * len(script)
        self.pending: list[tuple[str, bool, bool]] = []  # here-documents: word, quoted, <<-

    def states(self) -> list[str]:
        """One state per character of the script."""
        self.command(0)
        return self.marks

    def _mark(self, start: int, end: int, state: str) -> int:
        end = len(self.s) if end < 0 else end
        self.marks[start:end] = [state] * (end - start)
        return end

    def command(self, i: int, closer: str = "") -> int:
        """Unquoted text from i to the closer (`)` or a backquote); the index after it."""
        s = self.s
        cases = 0  # open `case ... esac`: there `pattern)` closes no `$(`
        while i < len(s):
            c = s[i]
            if i == 0 or s[i - 1] in _WORD_BREAK:
                cases += self._keyword(i, "case") - self._keyword(i, "esac") * (cases > 0)
            if c == closer and not (c == ")" and cases):
                return i + 1
            if c == "\\":
                i += 2
            elif c == "'":
                i = self._mark(i + 1, s.find("'", i + 1), "'") + 1
            elif c == '"':
                i = self.double(i + 1)
            elif c == "#" and (i == 0 or s[i - 1] in _WORD_BREAK):
                i = self._mark(i, s.find("\n", i), "")  # a comment: quotes there mean nothing
            elif s.startswith("$(", i) or c == "(":
                i = self.command(i + (2 if c == "$" else 1), ")")
            elif c == "`":
                i = self.command(i + 1, "`")
            elif s.startswith("<<", i) and not s.startswith("<<<", i):
                i = self._here_document(i + 2)
            elif c == "\n" and self.pending:
                i = self._bodies(i + 1)
            else:
                i += 1
        return i

    def _keyword(self, i: int, word: str) -> bool:
        end = i + len(word)
        return self.s.startswith(word, i) and (end == len(self.s) or self.s[end] in _WORD_BREAK)

    def double(self, i: int) -> int:
        """Inside double quotes from i; the index after the closing quote."""
        s = self.s
        while i < len(s) and s[i] != '"':
            i = self._expanding(i, '"')
        return i + 1

    def _expanding(self, i: int, state: str) -> int:
        """One step in text where `$` and backquotes work but quotes do not ("..." or a
        here-document's body)."""
        s = self.s
        if s.startswith("$(", i):
            return self.command(i + 2, ")")
        if s[i] == "`":
            return self.command(i + 1, "`")
        step = 2 if s[i] == "\\" else 1
        return self._mark(i, min(i + step, len(s)), state)

    def _here_document(self, i: int) -> int:
        """After `<<`: note the delimiter word; its body starts at the next line."""
        s = self.s
        strip = s.startswith("-", i)
        i += strip
        while i < len(s) and s[i] in " \t":
            i += 1
        word: list[str] = []
        quoted = False
        while i < len(s) and s[i] not in _WORD_BREAK:
            if s[i] in "'\"":
                end = s.find(s[i], i + 1)
                end = len(s) if end < 0 else end
                word.append(s[i + 1 : end])
                quoted, i = True, end + 1
            elif s[i] == "\\":
                word.append(s[i + 1 : i + 2])
                quoted, i = True, i + 2
            else:
                word.append(s[i])
                i += 1
        self.pending.append(("".join(word), quoted, strip))
        return i

    def _bodies(self, i: int) -> int:
        """The bodies of the line's here-documents, one after the other, from i."""
        pending, self.pending = self.pending, []
        for word, quoted, strip in pending:
            i = self._body(i, word, quoted, strip)
        return i

    def _body(self, i: int, word: str, quoted: bool, strip: bool) -> int:
        s = self.s
        while i < len(s):
            end = s.find("\n", i)
            end = len(s) if end < 0 else end
            if (s[i:end].lstrip("\t") if strip else s[i:end]) == word:
                return end + 1
            if quoted:
                i = self._mark(i, end, "q") + 1
                continue
            while i < len(s) and s[i] != "\n":
                i = self._expanding(i, "h")
            i += 1
        return i
