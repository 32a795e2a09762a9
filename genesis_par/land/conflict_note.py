"""The text that tells an agent why it runs again, or a resolver what to resolve (issue 15):
what collided (paths, kinds, the other task) and what the other side did to those paths."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from genesis_par import gitops

Collision = tuple[str, str, str]  # (path, kind, with): as the queue's Unmerged names them


def collisions_text(conflicts: Sequence[Collision]) -> str:
    """One line a conflict: `path (kind) with task "x"` (or `with the target`)."""
    lines = []
    for path, kind, other in conflicts:
        who = "the target's own work" if other == "target" else f'task "{other}"'
        lines.append(f"- {path} ({kind}) with {who}")
    return "\n".join(lines)


def other_side_diff(repo: Path, task_commit: str, tip: str, paths: Sequence[str]) -> str:
    """What the target did to paths since the task forked from it."""
    base = gitops.merge_base(repo, task_commit, tip) or tip
    return gitops.diff_of_paths(repo, base, tip, sorted(set(paths)))


def rerun_note(
    repo: Path,
    task: str,
    target: str,
    tip: str,
    task_commit: str,
    conflicts: Sequence[Collision],
    kept: str,
) -> str:
    """What a task's agent is told when it runs again on the current target tip."""
    target = target.removeprefix("refs/heads/")
    diff = other_side_diff(repo, task_commit, tip, [p for p, _, _ in conflicts])
    return (
        f'Your earlier work on task "{task}" could not be merged into {target}: it conflicts '
        "with work that landed there first.\n\n"
        f"Conflicts:\n{collisions_text(conflicts)}\n\n"
        f"Your worktree now holds {target} as it is now (commit {tip[:12]}). Redo your task on "
        "top of this code, keeping what the other work did. Your earlier attempt is kept under "
        f"{kept}.\n\n"
        f"What the other side changed in those paths:\n{diff or '(no textual diff)'}\n"
    )


def resolver_prompt(
    task: str, target: str, tip: str, conflicts: Sequence[Collision], unmerged: Sequence[str]
) -> str:
    """What a resolver agent is asked: finish the merge in its working directory."""
    target = target.removeprefix("refs/heads/")
    files = "\n".join(f"- {p}" for p in unmerged)
    return (
        f"This working directory holds a merge of {target} (commit {tip[:12]}) with the work of "
        f'task "{task}", stopped on conflicts.\n\n'
        f"Conflicts:\n{collisions_text(conflicts)}\n\n"
        f"Files left unmerged:\n{files}\n\n"
        "Resolve every conflict so that both sides' intent is kept: edit the files, remove all "
        "conflict markers (<<<<<<<, =======, >>>>>>>), then `git add` them. Do not commit, do "
        "not switch branches, and change nothing else.\n"
    )


def write_note(folder: Path, name: str, text: str) -> Path:
    """Keep text in folder/name (for GENESIS_CONFLICT_FILE and the record)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path
