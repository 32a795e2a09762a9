"""What an agent's git sees: its own worktree only, and a hook that refuses other refs.

An agent's environment loses every variable that would point its git elsewhere, gains a
ceiling at its worktree's parent (a worktree without `.git` never finds the user's
repository) and, through `GIT_CONFIG_COUNT`, conditional includes that (1) point
`core.hooksPath` of the repository's linked worktrees at a per-process hook directory, whose
`reference-transaction` hook refuses any ref update outside the task's namespace in the
"prepared" state (git >= 2.28) and logs every update, and whose other hooks chain to the
user's own; and (2) make git refuse to run at all in the user's main worktree and in the
other worktrees that exist (an include that does not parse is fatal to every git command).
See docs/isolation.md.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import stat
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from genesis_par.gitops import guard_files
from genesis_par.gitops.run import _run_git, without_repository_variables

TRANSACTION_HOOK = "reference-transaction"
OFF_LIMITS = (
    "genesis-par: agents may not run git here (the main worktree or another task's worktree)\n"
)

_HOOK = """\
#!/bin/sh
# genesis-par: the agent of task {task} may move only its own refs (docs/isolation.md)
log={log}
own_dir={own_dir}
branch={branch}
space={space}
existing={existing}
chain={chain}
state=$1
gd=
input=
refused=
mine() {{  # a per-worktree ref is the agent's only in its own worktree
  [ "$GIT_DIR" = "$own_dir" ] && return 0
  [ -n "$gd" ] || gd=$(cd "${{GIT_DIR:-.git}}" 2>/dev/null && pwd -P)
  [ "$gd" = "$own_dir" ]
}}
while read -r old new ref; do
  [ -n "$ref" ] || continue
  input="$input$old $new $ref
"
  verdict=ok
  case "$ref" in
    "$branch") case "$new" in *[!0]*) ;; *) verdict=refused ;; esac ;;
    "$space"*) ;;
    refs/heads/genesis/*) verdict=refused ;;
    refs/heads/*) grep -qxF -- "$ref" "$existing"; [ $? = 1 ] && verdict=made || verdict=refused ;;
    HEAD|refs/bisect/*|refs/worktree/*|refs/rewritten/*) mine || verdict=refused ;;
    */*|*[!A-Z_]*) verdict=refused ;;
    *) mine || verdict=refused ;;  # ORIG_HEAD and the other pseudorefs
  esac
  [ "$verdict" = refused ] && refused="$refused $ref"
  printf '%s %s %s %s %s\\n' "$state" "$verdict" "$old" "$new" "$ref" >>"$log"
done
if [ "$state" = prepared ] && [ -n "$refused" ]; then
  echo "genesis-par: task {task} may only move its branch $branch; refused:$refused" >&2
  exit 1
fi
if [ -n "$chain" ] && [ -x "$chain" ]; then
  printf '%s' "$input" | "$chain" "$@"
  exit $?
fi
exit 0
"""


class UserHooks:
    """Where the user's own git finds its hooks: core.hooksPath from the config files (a
    command-line value, such as our own, does not count), else the common hooks dir.

    Read once, at the run's first fence, before any agent could change the config (a git
    process per agent otherwise, issue 19): a change made during the run (an agent's; its
    fence puts the config back) never counts."""

    def __init__(self) -> None:
        self.values: list[str] | None = None  # core.hooksPath as the config files list it

    def folder(self, worktree: Path, common_dir: Path) -> Path:
        """The hooks folder as seen from worktree (a relative core.hooksPath is relative to
        where hooks run)."""
        with _reading_hooks:  # one read, the first fence's: before any agent of the run starts
            if self.values is None:
                self.values = _hooks_paths(worktree)
            values = self.values
        if not values:
            return common_dir / "hooks"
        path = Path(os.path.expanduser(values[-1]))
        return path if path.is_absolute() else worktree / path


# Two tasks' fences begin at once at a run's start: without it, both asked git, and the second
# could ask after the first task's agent had started (and changed the config).
_reading_hooks = threading.Lock()


def _hooks_paths(worktree: Path) -> list[str]:
    done = _run_git(
        ["config", "--show-scope", "--get-all", "core.hooksPath"], worktree, check=False
    )
    return [
        line.split("\t", 1)[1]
        for line in done.stdout.splitlines()
        if "\t" in line and not line.startswith("command\t")
    ]


def write_hooks(
    hooks: Path,
    log: Path,
    existing: Path,
    *,
    task: str,
    branch_ref: str,
    space: str,
    own_gitdir: Path,
    user_hooks: Path,
) -> None:
    """The per-process hook directory: the transaction hook, and one stub per user hook."""
    hooks.mkdir(parents=True, exist_ok=True)
    chain = ""
    for hook in _executables(user_hooks):
        if hook.name == TRANSACTION_HOOK:
            chain = str(hook)
            continue
        # exec keeps $0 the user's hook, so hooks that find their helpers by $0 still work
        _write_executable(hooks / hook.name, f'#!/bin/sh\nexec {shlex.quote(str(hook))} "$@"\n')
    script = _HOOK.format(
        task=task,
        log=shlex.quote(str(log)),
        existing=shlex.quote(str(existing)),
        own_dir=shlex.quote(str(own_gitdir)),
        branch=shlex.quote(branch_ref),
        space=shlex.quote(space),
        chain=shlex.quote(chain),
    )
    _write_executable(hooks / TRANSACTION_HOOK, script)


def _executables(folder: Path) -> list[Path]:
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    return [
        p
        for p in entries
        if not p.name.endswith(".sample") and p.is_file() and os.access(p, os.X_OK)
    ]


def _write_executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def write_include(path: Path, hooks: Path) -> None:
    """The config file the agent's git includes in its linked worktrees."""
    quoted = str(hooks).replace("\\", "\\\\").replace('"', '\\"')
    path.write_text(f'[core]\n\thooksPath = "{quoted}"\n')


def agent_env(
    base: Mapping[str, str],
    worktree: Path,
    common_dir: Path,
    include: Path | None,
    off_limits: Path,
    blocked: Sequence[str],
) -> dict[str, str]:
    """base without the variables that locate a repository, plus the ceiling and includes.
    blocked: `gitdir:` patterns of the git dirs the agent's git refuses (off_limits_patterns)."""
    env = without_repository_variables(base)  # the same list genesis-par's own git drops
    ceiling = str(worktree.resolve().parent)
    inherited = base.get("GIT_CEILING_DIRECTORIES")
    env["GIT_CEILING_DIRECTORIES"] = f"{ceiling}:{inherited}" if inherited else ceiling
    # `*` stops at `/`: the worktrees, not the repositories of their submodules
    pairs = []
    if include is not None:  # none for a task clone: its git runs no hook of ours
        pairs += [(f"includeIf.gitdir:{_pattern(common_dir.resolve())}/worktrees/*.path", include)]
    pairs += [(f"includeIf.gitdir:{b}.path", off_limits) for b in blocked]
    env["GIT_CONFIG_COUNT"] = str(len(pairs))
    for k, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{k}"], env[f"GIT_CONFIG_VALUE_{k}"] = key, str(value)
    return env


@functools.lru_cache(maxsize=64)
def _pattern(path: Path) -> str:
    """path as a literal `gitdir:` pattern (wildmatch: `*?[\\` escaped)."""
    return _literal(str(path))


def _literal(text: str) -> str:
    return "".join("\\" + c if c in "*?[\\" else c for c in text)


def off_limits_patterns(common_dir: Path, own_gitdir: Path) -> list[str]:
    """`gitdir:` patterns of the main worktree's git dir and of every linked worktree's but the
    agent's own, those made while it runs included. They name every other entry of
    `worktrees/` by how it differs from the agent's own name (another first character, a
    proper prefix of it, the same start then another character, or a longer name), so there
    are two per character of that name, however many worktrees the repository has."""
    common = common_dir.resolve()
    folder = f"{_pattern(common / 'worktrees')}/"
    name = own_gitdir.name
    if own_gitdir.parent != common / "worktrees":  # a clone's: every linked one is off limits
        return [_pattern(common), f"{folder}*"]
    if not name.isascii():  # a class of one byte cannot hold the character: name each one
        return [_pattern(common), *(_pattern(p) for p in _linked(common) if p != own_gitdir)]
    others = [f"{folder}[!\\{name[0]}]*", f"{folder}{_literal(name)}?*"]
    for k in range(1, len(name)):
        start = folder + _literal(name[:k])
        others += [start, f"{start}[!\\{name[k]}]*"]
    return [_pattern(common), *others]


def _linked(common: Path) -> list[Path]:
    """The git dirs of the linked worktrees there are now."""
    linked: list[Path] = []
    with contextlib.suppress(OSError), os.scandir(common / "worktrees") as entries:
        for entry in entries:
            if entry.is_symlink():
                linked.append(Path(entry.path).resolve())
            elif entry.is_dir():
                linked.append(Path(entry.path))
    return sorted(linked)


def write_off_limits(path: Path) -> None:
    """The config file that stops git in off-limits folders, shared by every agent process of
    the repository: written only when it is not already right, and whole at once (a new file
    moved over the old), because an agent's git reading it empty, in the moment another fence
    rewrote it in place, ran where it must not."""
    with contextlib.suppress(OSError):
        if path.read_text() == OFF_LIMITS:
            return
    guard_files.write_state(path, guard_files.FileState(0o100644, OFF_LIMITS.encode()))


def own_gitdir(worktree: Path) -> Path | None:
    """The git dir a linked worktree's `.git` file names (resolved), or None."""
    try:
        text = (worktree / ".git").read_text()
    except OSError:
        return None
    if not text.startswith("gitdir: "):
        return None
    path = Path(text[len("gitdir: ") :].strip())
    return (path if path.is_absolute() else worktree / path).resolve()
