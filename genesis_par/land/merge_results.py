"""What git's merge-ort says of one merge, typed: `git merge-tree -z` output in, classified
conflicts out (pure: no git runs here)."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace


class Kind(enum.Enum):
    """What kind of conflict git reported."""

    CONTENT = "content"
    ADD_ADD = "add/add"
    BINARY = "binary"
    SUBMODULE = "submodule"
    MODIFY_DELETE = "modify/delete"
    RENAME_DELETE = "rename/delete"
    RENAME_RENAME = "rename/rename"
    RENAME_COLLISION = "rename-collision"
    FILE_DIRECTORY = "file/directory"
    DISTINCT_TYPES = "distinct-types"
    DIR_RENAME_SUGGESTED = "dir-rename-suggested"
    DIR_RENAME_FILE_IN_WAY = "dir-rename-file-in-way"
    DIR_RENAME_COLLISION = "dir-rename-collision"
    DIR_RENAME_SPLIT = "dir-rename-split"
    OTHER = "other"


# git's conflict type strings (merge-ort.c, type_short_descriptions) -> kinds.
_KINDS = {
    "CONFLICT (contents)": Kind.CONTENT,
    "CONFLICT (binary)": Kind.BINARY,
    "CONFLICT (modify/delete)": Kind.MODIFY_DELETE,
    "CONFLICT (rename/delete)": Kind.RENAME_DELETE,
    "CONFLICT (rename/rename)": Kind.RENAME_RENAME,
    "CONFLICT (rename involved in collision)": Kind.RENAME_COLLISION,
    "CONFLICT (file/directory)": Kind.FILE_DIRECTORY,
    "CONFLICT (distinct modes)": Kind.DISTINCT_TYPES,
    "CONFLICT (directory rename suggested)": Kind.DIR_RENAME_SUGGESTED,
    "CONFLICT (file in way of directory rename)": Kind.DIR_RENAME_FILE_IN_WAY,
    "CONFLICT(directory rename collision)": Kind.DIR_RENAME_COLLISION,
    "CONFLICT(directory rename unclear split)": Kind.DIR_RENAME_SPLIT,
}


@dataclass(frozen=True, slots=True)
class Conflict:
    """One conflict message of git's."""

    path: str
    kind: Kind
    paths: tuple[str, ...] = ()
    message: str = ""
    git_type: str = ""

    def as_json(self) -> dict[str, object]:
        """The JSON form; `other` keeps git's own type string."""
        obj: dict[str, object] = {
            "path": self.path,
            "kind": self.kind.value,
            "paths": list(self.paths),
            "message": self.message,
        }
        if self.kind is Kind.OTHER:
            obj["git_type"] = self.git_type
        return obj


@dataclass(frozen=True, slots=True)
class MergeResult:
    """What git says of one merge."""

    clean: bool
    tree: str = ""
    conflicts: tuple[Conflict, ...] = ()
    conflicted: tuple[str, ...] = ()  # the paths git leaves conflicted (`--name-only`)

    @property
    def paths(self) -> list[str]:
        """Every path named by a conflict or left conflicted."""
        return sorted({p for c in self.conflicts for p in (c.path, *c.paths)} | {*self.conflicted})

    def kinds_by_path(self) -> dict[str, set[str]]:
        """Each conflicted path, with the kinds of the messages that name it.

        git's list of conflicted paths is the measure: a rename/rename leaves both new names
        conflicted, a file/symlink clash the `PATH~SIDE` one side moved to; each message's own
        path is there too (a directory rename conflict may leave nothing in the index)."""
        found: dict[str, set[str]] = {}
        for c in self.conflicts:
            found.setdefault(c.path, set()).add(c.kind.value)
        for path in self.conflicted:
            kinds = {c.kind.value for c in self.conflicts if path in (c.path, *c.paths)}
            found.setdefault(path, set()).update(kinds or {Kind.OTHER.value})
        return found


CLEAN = MergeResult(True)
OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_MOVED_ASIDE = re.compile(r"~[0-9a-f]{7,64}$")


def classify(git_type: str, message: str) -> Kind | None:
    """The kind of a message, or None for an informational one (e.g. Auto-merging)."""
    if not git_type.startswith("CONFLICT"):
        return None
    if git_type == "CONFLICT (contents)" and message.startswith("CONFLICT (add/add)"):
        return Kind.ADD_ADD
    if git_type.startswith("CONFLICT (submodule") or message.startswith("CONFLICT (submodule"):
        return Kind.SUBMODULE
    return _KINDS.get(git_type, Kind.OTHER)


def parse_batch(raw: str, count: int) -> list[MergeResult]:
    """Split the output of `git merge-tree --write-tree -z --stdin` into count results."""
    tokens = raw.split("\0")
    results, i = [], 0
    for _ in range(count):
        status, tree = tokens[i], tokens[i + 1]
        i += 2
        conflicted: dict[str, None] = {}
        if status == "0":  # conflicted file info (`<mode> <object> <stage>\t<path>`), then ""
            while tokens[i]:
                conflicted[tokens[i].partition("\t")[2]] = None
                i += 1
            i += 1
        conflicts, i = _messages(tokens, i)
        found = tuple(_dedupe(conflicts))
        results.append(MergeResult(status == "1", tree, found, tuple(conflicted)))
    return results


def _messages(tokens: list[str], i: int) -> tuple[list[Conflict], int]:
    conflicts: list[Conflict] = []
    while tokens[i]:
        if not tokens[i].isdigit():
            # Free text (git's advice on submodule conflicts) comes last and takes the place of
            # the empty token that ends the messages; skip that token too if a git prints one.
            i += 1
            return conflicts, i + (i < len(tokens) and tokens[i] == "")
        n = int(tokens[i])
        paths = tuple(tokens[i + 1 : i + 1 + n])
        git_type, message = tokens[i + 1 + n], tokens[i + 2 + n].rstrip("\n")
        i += n + 3
        kind = classify(git_type, message)
        if kind is not None:
            conflicts.append(Conflict(_main_path(paths), kind, paths, message, git_type))
    return conflicts, i + 1


def _main_path(paths: tuple[str, ...]) -> str:
    """The path a person knows: not the `name~<commit>` git moved a side to."""
    return next((p for p in paths if not _MOVED_ASIDE.search(p)), paths[0])


def _dedupe(conflicts: list[Conflict]) -> list[Conflict]:
    """A binary file also gets a contents message: keep the more specific binary one."""
    binary = {c.path for c in conflicts if c.kind is Kind.BINARY}
    return [c for c in conflicts if not (c.kind is Kind.CONTENT and c.path in binary)]


def relabel(result: MergeResult, labels: Mapping[str, str]) -> MergeResult:
    """Name each side as git would had it been given names, not commits: `path~branch` (a `/`
    in the name becomes `_`) and the names in messages."""
    if result.clean:
        return result

    def named(path: str) -> str:
        for commit, name in labels.items():
            if path.endswith("~" + commit):
                return path[: -len(commit)] + name.replace("/", "_")
        return path

    def told(message: str) -> str:
        for commit, name in labels.items():
            message = message.replace("~" + commit, "~" + name.replace("/", "_"))
            message = message.replace(commit, name)
        return message

    conflicts = tuple(
        replace(c, path=named(c.path), paths=tuple(map(named, c.paths)), message=told(c.message))
        for c in result.conflicts
    )
    return replace(result, conflicts=conflicts, conflicted=tuple(map(named, result.conflicted)))
