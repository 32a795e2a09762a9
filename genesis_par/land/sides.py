"""Resolutions made in the queue's throwaway worktree: `prefer-target` / `prefer-task` (exactly
`git merge -X ours/theirs`) and a resolver agent finishing the conflicted merge.

Each gives one commit on the task's side: the merge of the target tip into the task's commit
(parents: task commit, target tip), which the queue then lands like any branch, check first."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from genesis_par import gitops, proc, worktrees
from genesis_par.land import conflict_note
from genesis_par.land.conflicts import merge_one
from genesis_par.model import Failure
from genesis_par.plan import templates
from genesis_par.plan.model import Command

# a line git writes for a conflict: `<<<<<<< ours`, `=======`, `>>>>>>> theirs` (and `|||||||`
# with diff3): any one of them left means the merge is not resolved
_MARKER = re.compile(rb"^(<{7}|>{7}|\|{7})( |$)|^={7}$", re.MULTILINE)


class Made(NamedTuple):
    """A resolution commit, or why there is none."""

    commit: str | None
    reason: str = ""
    log: Path | None = None


def message(task: str, target: str, how: str) -> str:
    """The resolution commit's message."""
    return (
        f"Merge {target.removeprefix('refs/heads/')} into {task} ({how})\n\nGenesis-Task: {task}\n"
    )


def prefer(
    repo: gitops.RepoPaths,
    run: str,
    task: str,
    task_commit: str,
    target: str,
    tip: str,
    option: str,
    git_env: Mapping[str, str],
) -> Made:
    """`git merge -X option` of the task into the target tip; None when other kinds remain."""
    where = worktrees.merge_worktree(repo, run, tip)
    gitops.checkout_detached(where, tip)
    how = "prefer-target" if option == "ours" else "prefer-task"
    try:
        left = gitops.merge_in_worktree(
            where,
            task_commit,
            message(task, target, how),
            git_env,
            option=option,
            commit_if_clean=False,
        )
        if left:
            return Made(None, f"{how} cannot resolve {', '.join(left)}: not a content conflict")
        tree = gitops.staged_tree(where)
    finally:
        gitops.abort_merge(where)
    made = gitops.commit_tree(
        repo.root, tree, [task_commit, tip], message(task, target, how), git_env
    )
    return Made(made)


class ResolverRun(NamedTuple):
    """What a resolver agent needs."""

    command: Command
    log: Path
    prompt_dir: Path
    state_dir: Path
    env: Mapping[str, str]
    timeout_s: float | None
    cancel: threading.Event


def with_resolver(
    repo: gitops.RepoPaths,
    run: str,
    task: str,
    task_commit: str,
    target: str,
    tip: str,
    conflicts: Sequence[conflict_note.Collision],
    resolver: ResolverRun,
    git_env: Mapping[str, str],
) -> Made:
    """The conflicted merge of tip into the task's commit, finished by the resolver agent.

    It counts only when the resolver exits 0, no path is left unmerged, no conflict marker is
    left in the files that conflicted, and no other file differs from git's own merge of them
    (a resolver that aborts the merge, or edits elsewhere, would otherwise drop the target's
    work without a conflict to show for it)."""
    auto = merge_one(repo.root, task_commit, tip)  # what git merged by itself
    where = worktrees.merge_worktree(repo, run, tip)
    gitops.checkout_detached(where, task_commit)
    try:
        text = message(task, target, "resolver")
        left = gitops.merge_in_worktree(where, tip, text, git_env, commit_if_clean=False)
        prompt = conflict_note.resolver_prompt(task, target, tip, conflicts, left)
        prompt_file = conflict_note.write_note(
            resolver.prompt_dir, resolver.log.stem + ".md", prompt
        )
        outcome = _run_resolver(repo, run, task, where, prompt, prompt_file, resolver)
        why = _not_resolved(where, left, outcome, resolver)
        if why:
            return Made(None, why, resolver.log)
        tree = gitops.staged_tree(where)
        beyond = sorted(set(gitops.changed_paths(repo.root, auto.tree, tree)) - set(auto.paths))
        if beyond:
            shown = ", ".join(beyond[:3]) + (
                f" and {len(beyond) - 3} more" if len(beyond) > 3 else ""
            )
            return Made(
                None,
                f"the resolver changed files that did not conflict ({shown}); log {resolver.log}",
                resolver.log,
            )
    finally:
        gitops.abort_merge(where)
    made = gitops.commit_tree(repo.root, tree, [task_commit, tip], text, git_env)
    return Made(made, "", resolver.log)


def _run_resolver(
    repo: gitops.RepoPaths,
    run: str,
    task: str,
    where: Path,
    prompt: str,
    prompt_file: Path,
    resolver: ResolverRun,
) -> proc.Outcome:
    values = {
        "run": run,
        "task": task,
        "worktree": str(where),
        "branch": worktrees.branch_name(run, task),
        "base": "",
        "prompt": prompt,
        "prompt_file": str(prompt_file),
        "port": "0",
        "conflict": prompt,
        "conflict_file": str(prompt_file),
    }
    argv, env = templates.expand(resolver.command, values, resolver.env)
    label = f"resolve.{resolver.log.stem.rsplit('.', 1)[-1]}"
    scope = gitops.Scope(
        repo, run, task, where, None, resolver.state_dir, label, resolver.log, resolver.env
    )
    with gitops.guard(scope) as fence:
        outcome = proc.run(
            argv,
            cwd=where,
            env=fence.env(env),
            log_path=resolver.log,
            limits=proc.Limits(timeout_s=resolver.timeout_s),
            cancel=resolver.cancel,
            shell=resolver.command.shell,
        )
    if fence.verdict.failure:  # put back by the fence; what it did is noted in its log
        return outcome._replace(failure=Failure.ESCAPED)
    return outcome


def _not_resolved(
    where: Path, conflicted: Sequence[str], outcome: proc.Outcome, resolver: ResolverRun
) -> str | None:
    """Why the resolver's result does not count, or None."""
    if outcome.failure == Failure.CANCELLED:
        return "interrupted"
    if outcome.failure is not None:
        said = (
            f"exit code {outcome.exit_code}" if outcome.failure == Failure.EXIT else outcome.failure
        )
        if outcome.failure == Failure.ESCAPED:
            said = "it reached outside its worktree: put back"
        return f"the resolver failed ({said}); log {resolver.log}"
    _stage_content_fixes(where)
    left = gitops.unmerged_paths(where)
    if left:
        return f"the resolver left {', '.join(left)} unmerged; log {resolver.log}"
    marked = files_with_markers(where, conflicted)
    if marked:
        return f"the resolver left conflict markers in {', '.join(marked)}; log {resolver.log}"
    return None


def _stage_content_fixes(where: Path) -> None:
    """A coding agent edits files and seldom runs `git add`: a content conflict (both sides
    present) whose file holds no marker any more is marked resolved here. A path one side
    deleted is left for the resolver to decide (git add keeps it, git rm drops it)."""
    both = [p for p, s in gitops.unmerged_stages(where).items() if {"2", "3"} <= s]
    fixed = [p for p in both if (where / p).is_file() and not files_with_markers(where, [p])]
    gitops.stage(where, fixed)


def files_with_markers(folder: Path, paths: Sequence[str]) -> list[str]:
    """The paths (of those that conflicted) whose file still holds a conflict marker line."""
    found = []
    for path in paths:
        file = folder / path
        if file.is_file() and not file.is_symlink() and _MARKER.search(file.read_bytes()):
            found.append(path)
    return found
