"""The fence around each agent process: what its git may do, and what it did outside.

Before the process: the repository's refs outside genesis-par's namespaces (read from git's
files, see guard_refs), the task's own branch, the main worktree's HEAD and index, and the files
that steer the user's later git commands (config, hooks, info/, the global config). After:
the refs its git tried to move outside its namespace (refused by the hook, logged) are named
and their new values kept under `refs/genesis/<run>/<task>/escaped/`; files it changed are
put back and its version kept beside the log; its own branch deleted, or moved to history
without its start commit, is put back. Changes no hook saw (the user's own commits, most
likely) are never undone: they are noted in the log. See docs/isolation.md.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from genesis_par.gitops import guard_clone, guard_env
from genesis_par.gitops.guard_files import (
    FileState,
    config_keys,
    differences,
    hides_history,
    new_files,
    put_back,
    read_files,
    watched_files,
)
from genesis_par.gitops.guard_refs import (
    all_refs,
    describe_refused,
    keep_escaped,
    logged,
    own_branch,
    put_back_links,
    set_aside,
    users_refs,
)
from genesis_par.gitops.guard_scope import Scope
from genesis_par.gitops.ref_files import Refs
from genesis_par.gitops.refs import RepoPaths, is_null, on_branch
from genesis_par.gitops.worktree import hold, release
from genesis_par.model import Failure


@dataclass
class Verdict:
    failure: Failure | None = None  # ESCAPED | HISTORY | WORKTREE | None
    reason: str | None = None
    notes: list[str] = field(default_factory=list)


class _Snapshot:
    def __init__(
        self, refs: Refs, files: dict[Path, FileState | None], users: dict[str, str]
    ) -> None:
        self.every_ref, self.files, self.refs = refs, files, users  # refs: _users' view


_lock = threading.Lock()
_active: dict[Path, set[Fence]] = {}  # the fences up now, per repository


class Fence:
    """One guarded process: env() for it, verdict after it."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.verdict = Verdict()
        self.overlapped: set[str] = set()  # tasks whose guarded processes ran at the same time
        self._blocked: list[str] = []
        self._before = _Snapshot(Refs({}, {}), {}, {})
        self._link: bytes | None = None  # the worktree's .git file
        self._gitdir: Path | None = None  # the git dir it named before the process
        self._held = False  # its record locked for the process (worktree.hold)

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        """The process's environment: base fenced in (see guard_env)."""
        s = self.scope
        return guard_env.agent_env(
            base,
            s.worktree,
            s.repo.common_dir,
            None if s.clone else s.folder / "include.config",
            s.state_dir / "guard" / "off-limits.config",
            self._blocked,
        )

    def begin(self) -> None:
        """Write the hook and snapshot what the process must not change."""
        s = self.scope
        with _lock:
            others = _active.setdefault(s.repo.common_dir, set())
            for other in others:
                other.overlapped.add(s.task)
                self.overlapped.add(other.scope.task)
            others.add(self)
        try:
            self._prepare()
        except BaseException:
            self._leave()
            raise

    def _leave(self) -> None:
        with _lock:
            _active.get(self.scope.repo.common_dir, set()).discard(self)
        if self._held and self._gitdir is not None:
            release(self._gitdir)
            self._held = False

    def _prepare(self) -> None:
        s = self.scope
        s.folder.mkdir(parents=True, exist_ok=True)
        (s.folder / "refs.log").write_text("")
        refs = all_refs(s.repo)
        heads = "".join(f"{ref}\n" for ref in refs.values if ref.startswith("refs/heads/"))
        (s.folder / "existing").write_text(heads)
        own = guard_env.own_gitdir(s.worktree)
        gitdir = self._gitdir = own or s.worktree / ".git"
        self._held = own is not None and not s.clone and hold(own)
        guard_env.write_off_limits(s.state_dir / "guard" / "off-limits.config")
        self._blocked = guard_env.off_limits_patterns(s.repo.common_dir, gitdir)
        if s.clone:  # its git is its own: no hook in it; the user's repository is off limits
            self._before = self._snapshot(refs, read_files(watched_files(s.repo, s.user_env)))
            return
        guard_env.write_hooks(
            s.folder / "hooks",
            s.folder / "refs.log",
            s.folder / "existing",
            task=s.task,
            branch_ref=s.branch_ref,
            space=s.space,
            own_gitdir=gitdir,
            user_hooks=s.user_hooks.folder(s.worktree, s.repo.common_dir),
        )
        guard_env.write_include(s.folder / "include.config", s.folder / "hooks")
        with contextlib.suppress(OSError):
            self._link = (s.worktree / ".git").read_bytes()
        self._before = self._snapshot(refs, read_files(watched_files(s.repo, s.user_env)))

    def _snapshot(self, refs: Refs, files: dict[Path, FileState | None]) -> _Snapshot:
        return _Snapshot(refs, files, users_refs(self.scope, refs.values))

    def end(self) -> None:
        """Compare, put back, and say what the process touched."""
        s = self.scope
        try:
            files = read_files(list(self._before.files))
            files.update(new_files(s.repo, self._before.files))
            self._judge(self._snapshot(all_refs(s.repo), files))
        finally:
            self._leave()
        if self.verdict.notes:
            with s.log.open("a") as log:
                log.writelines(f"genesis-par: {note}\n" for note in self.verdict.notes)

    def _judge(self, after: _Snapshot) -> None:
        s, before, notes = self.scope, self._before, self.verdict.notes
        if s.clone:
            relinked = guard_clone.restore(
                s.repo, s.worktree, s.branch_ref, s.start, s.folder / "escaped" / "clone.git"
            )
        else:
            relinked = _restore_link(s, self._link)
        notes += relinked
        links = put_back_links(s.repo.root, before.every_ref, after.every_ref)
        _unlinked(before, after, [link.ref for link in links])
        escaped = logged(s, "prepared", "refused")
        mine = escaped.pop(s.branch_ref, None)
        made = {r: v for r, v in logged(s, "committed", "made").items() if after.refs.get(r) == v}
        on_own_branch = not made and on_branch(self._gitdir, s.branch_ref)
        notes += [] if s.clone or on_own_branch else set_aside(s, made, after.refs)
        touched = [describe_refused(ref, new) for ref, new in escaped.items()]
        keep_escaped(s, {ref: new for ref, new in escaped.items() if not is_null(new)})
        if s.clone:  # a push to the repository's path: no hook of ours saw it
            mine_refs = {r: v for r, v in before.refs.items() if r != s.branch_ref}
            now_refs = {r: v for r, v in after.refs.items() if r != s.branch_ref}
            pushed, handled = guard_clone.pushed(s.repo, s.worktree, mine_refs, now_refs, s.space)
            touched += pushed
            escaped.update({ref: after.refs[ref] for ref in handled})
        touched += self._files(before.files, after.files)
        touched += self._blame([link.what for link in links])
        history = own_branch(s, before.refs.get(s.branch_ref), after.refs.get(s.branch_ref))
        if mine is not None and history is None:
            history = (
                f"tried to delete its branch {s.branch_ref.removeprefix('refs/heads/')} (refused)"
            )
        for ref in sorted(set(before.refs) | set(after.refs)):
            old, new = before.refs.get(ref), after.refs.get(ref)
            if old != new and ref != s.branch_ref and ref not in escaped and ref not in made:
                notes.append(
                    f"{ref} changed while task {s.task} ran ({_short(old)} -> {_short(new)}), by "
                    "no git command of its agent that genesis-par saw (the user's own work?): "
                    "left as it is"
                )
        if touched:
            self.verdict.failure = Failure.ESCAPED
            self.verdict.reason = "its git touched the user's repository: " + ", ".join(touched)
            if escaped:
                self.verdict.reason += f"; what it tried is kept under {s.space}escaped/"
            if history:
                self.verdict.reason += f"; and it {history}"
        elif history:
            self.verdict.failure, self.verdict.reason = Failure.HISTORY, f"its agent {history}"
        elif relinked:  # issue 13: a worktree that is not what genesis-par made fails its task
            self.verdict.failure = Failure.WORKTREE
            self.verdict.reason = (
                f"its {'clone' if s.clone else 'worktree'}'s .git was removed or replaced by its "
                "agent (put back so that its work could be kept; see the task's log)"
            )

    def _files(
        self, before: dict[Path, FileState | None], after: dict[Path, FileState | None]
    ) -> list[str]:
        """Put changed files back; what to blame this task for (nothing when others ran too)."""
        s = self.scope
        blamed: list[str] = []
        for path, what in differences(before, after):
            name = _display(s.repo, path)
            if path == s.repo.common_dir / "HEAD" or path.name == "index":
                self.verdict.notes.append(
                    f"{name} changed while task {s.task} ran, by no git command of its agent that "
                    "genesis-par saw (the user's own checkout?): left as it is"
                )
                continue
            shallow = path == s.repo.common_dir / "shallow"
            if shallow and not hides_history(s.repo.root, before.get(path), after.get(path)):
                self.verdict.notes.append(
                    f"{name} changed while task {s.task} ran (history fetched: no commit this "
                    "repository has is hidden by it): left as it is"
                )
                continue
            inside = path.is_relative_to(s.repo.common_dir)
            kept = s.folder / "escaped" / (name if inside else f"global/{path.name}")
            done = put_back(path, before.get(path), after.get(path), kept)
            is_config = path.name.endswith("config") or path.name == "config.worktree"
            keys = config_keys(before.get(path), after.get(path)) if is_config else ""
            detail = f"{what} {name}{f' ({keys})' if keys else ''}"
            detail += f"; put back, its version kept in {kept}" if done else f"; {done.why}"
            blamed.append(detail)
        return self._blame(blamed)

    def _blame(self, details: list[str]) -> list[str]:
        """What to blame this task for: nothing, only notes, when other tasks ran too (what
        no hook saw cannot be told apart)."""
        if not self.overlapped or not details:
            return details
        others = ", ".join(sorted(self.overlapped))
        self.verdict.notes += [
            f"{d} (tasks {others} ran at the same time, so no one task is blamed)" for d in details
        ]
        return []


@contextlib.contextmanager
def guard(scope: Scope) -> Iterator[Fence]:
    """Fence one process in: `with guard(scope) as fence: proc.run(..., env=fence.env(e))`."""
    fence = Fence(scope)
    fence.begin()
    try:
        yield fence
    finally:
        fence.end()


def _unlinked(before: _Snapshot, after: _Snapshot, refs: list[str]) -> None:
    """after as it is once the links in refs are put back: each ref as it was before."""
    for ref in refs:
        if ref in before.refs:
            after.refs[ref] = before.refs[ref]
        else:
            after.refs.pop(ref, None)


def _restore_link(scope: Scope, link: bytes | None) -> list[str]:
    """Put back the worktree's `.git` file if its agent removed or replaced it."""
    dot_git = scope.worktree / ".git"
    if link is None or (dot_git.is_file() and dot_git.read_bytes() == link):
        return []
    kept = scope.folder / "escaped" / "worktree.git"
    try:
        if dot_git.exists() or dot_git.is_symlink():
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(dot_git, kept)
            dot_git.write_bytes(link)
            return [f"its agent replaced {dot_git}: put back, what it made moved to {kept}"]
        dot_git.write_bytes(link)
    except OSError as e:
        return [f"its agent removed or replaced {dot_git}, which could not be put back: {e}"]
    return [f"its agent removed {dot_git}: put back"]


def _display(repo: RepoPaths, path: Path) -> str:
    if path.is_relative_to(repo.common_dir):
        return f"{repo.common_dir.name}/{path.relative_to(repo.common_dir)}"
    home = Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "(none)"
