"""index_file.gitlinks reads the index git wrote and agrees with `git ls-files --stage`, or
refuses (None) and leaves the answer to git: real repositories, every index version and hash."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from genesis_par.gitops.index_file import gitlinks
from tests.conftest import commit, git

LONG = "/".join(["deep" * 50] * 21)  # 4220 bytes: past the 12 bits of an entry's name length
LINKS = ["with space/lib one", "ünïcode/子模块", "raw-\udcff-bytes", LONG, "zz/late link"]


def make_repo(tmp_path: Path, object_format: str = "sha1", name: str = "repo") -> Path:
    """A repository with one commit (README.md) in the given object format."""
    path = tmp_path / name
    path.mkdir(parents=True)
    git(path, "init", "-q", f"--object-format={object_format}")
    commit(path, {"README.md": "hello\n"}, "initial")
    return path


def listed(repo: Path) -> list[str]:
    """What git says: the gitlinks of `git ls-files --stage -z`, in order, each once."""
    out = subprocess.run(
        ["git", "ls-files", "--stage", "-z"], cwd=repo, check=True, capture_output=True
    ).stdout.decode("utf-8", "surrogateescape")
    entries = (e.split("\t", 1) for e in out.split("\0") if e)
    return list(dict.fromkeys(path for meta, path in entries if meta.startswith("160000 ")))


def index_info(repo: Path, entries: list[tuple[str, str, str]]) -> None:
    """Add (mode, object, path) entries straight to the index: no file is needed."""
    lines = "".join(f"{mode} {oid}\t{path}\0" for mode, oid, path in entries)
    subprocess.run(
        ["git", "update-index", "-z", "--index-info"],
        cwd=repo,
        check=True,
        input=lines.encode("utf-8", "surrogateescape"),
    )


def version(repo: Path) -> int:
    return int.from_bytes((repo / ".git" / "index").read_bytes()[4:8], "big")


def hash_size(repo: Path) -> int:
    return len(git(repo, "rev-parse", "HEAD")) // 2


def read(repo: Path) -> list[str] | None:
    return gitlinks(repo / ".git" / "index", hash_size(repo))


def add_nested_repository(repo: Path, path: str, object_format: str) -> None:
    """A folder with a repository of its own, added by `git add --all` as a gitlink."""
    make_repo(repo, object_format, path)
    git(repo, "add", "--all")


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
@pytest.mark.parametrize("index_version", [2, 3, 4])
def test_gitlinks_of_every_kind_as_git_lists_them(
    tmp_path: Path, object_format: str, index_version: int
) -> None:
    repo = make_repo(tmp_path, object_format)
    commit(repo, {f"src/pkg/module_{i:03}.py": f"{i}\n" for i in range(60)})
    add_nested_repository(repo, "vendor/nested", object_format)
    head = git(repo, "rev-parse", "HEAD")
    index_info(repo, [("160000", head, path) for path in LINKS])
    if index_version > 2:  # intent-to-add is an extended flag: git writes version 3 or 4
        (repo / "new file.txt").write_text("new\n")
        git(repo, "add", "-N", "new file.txt")
    git(repo, "update-index", "--index-version", str(index_version))
    assert version(repo) == index_version  # git demotes a 3 without extended flags to 2
    expected = listed(repo)
    assert sorted(expected) == sorted([*LINKS, "vendor/nested"])
    assert read(repo) == expected


def test_an_index_with_no_gitlinks_has_none(repo: Path) -> None:
    commit(repo, {"a/b.txt": "b\n", "c.txt": "c\n"})
    assert read(repo) == [] == listed(repo)


def test_version_4_paths_are_rebuilt_from_the_previous_path(repo: Path) -> None:
    """Each path strips bytes off the one before and adds a suffix; a strip of 128 or more
    takes two bytes of git's varint (which is not LEB128), so a wrong decoder misses or
    misnames the gitlinks that come after."""
    blob = git(repo, "rev-parse", "HEAD:README.md")
    head = git(repo, "rev-parse", "HEAD")
    stem = "shared/" + "x" * 150
    files = [("100644", blob, f"{stem}/{i:03}/file") for i in range(150)]
    files += [("100644", blob, f"{stem[:-i]}/f") for i in range(1, 140, 7)]
    links = [f"{stem}/149/link", f"{stem[:9]}/link", "shared/y/link", "zzz/link"]
    index_info(repo, [*files, *(("160000", head, link) for link in links)])
    git(repo, "update-index", "--index-version", "4")
    assert version(repo) == 4
    assert listed(repo) == sorted(links)
    assert read(repo) == sorted(links)


def test_a_path_in_conflict_counts_once(repo: Path) -> None:
    """A gitlink both sides moved, and a file conflict beside a gitlink that stays."""
    initial = git(repo, "rev-parse", "HEAD")
    index_info(repo, [("160000", initial, "sub"), ("160000", initial, "stays")])
    (repo / "f.txt").write_text("base\n")
    git(repo, "add", "f.txt")
    git(repo, "commit", "-qm", "base")
    for side in ("one", "two"):
        moved_to = git(repo, "rev-parse", "HEAD")  # main for one, one for two: both new
        git(repo, "checkout", "-q", "-b", side, "main")
        index_info(repo, [("160000", moved_to, "sub")])
        (repo / "f.txt").write_text(f"{side}\n")
        git(repo, "add", "f.txt")
        git(repo, "commit", "-qm", side)
    merged = subprocess.run(["git", "merge", "-q", "one"], cwd=repo, capture_output=True)
    assert merged.returncode != 0
    stages = git(repo, "ls-files", "--stage").splitlines()
    assert [line.split()[2] for line in stages if line.endswith("\tsub")] == ["1", "2", "3"]
    assert [line.split()[2] for line in stages if line.endswith("\tf.txt")] == ["1", "2", "3"]
    assert read(repo) == listed(repo) == ["stays", "sub"]


def test_a_sparse_checkout_without_sparse_index_is_read(repo: Path) -> None:
    """Skip-worktree is an extended flag: the index is version 3 and still read."""
    commit(repo, {"a/f": "a\n", "b/f": "b\n"})
    index_info(repo, [("160000", git(repo, "rev-parse", "HEAD"), "b/link")])
    git(repo, "commit", "-qm", "link")
    git(repo, "sparse-checkout", "set", "--cone", "a")
    assert version(repo) == 3
    assert read(repo) == listed(repo) == ["b/link"]


def test_a_sparse_index_is_left_to_git(repo: Path) -> None:
    commit(repo, {f"{d}/f": f"{d}\n" for d in ("a", "b", "c")})
    git(repo, "sparse-checkout", "init", "--cone", "--sparse-index")
    git(repo, "sparse-checkout", "set", "a")
    data = (repo / ".git" / "index").read_bytes()
    if b"sdir" not in data:
        pytest.skip(f"{git(repo, 'version')} wrote no sparse index (index.sparse is 2.32+)")
    assert "040000 " in git(repo, "ls-files", "--stage", "--sparse")  # a directory entry
    assert read(repo) is None


def test_a_split_index_is_left_to_git(repo: Path) -> None:
    index_info(repo, [("160000", git(repo, "rev-parse", "HEAD"), "sub")])
    git(repo, "update-index", "--split-index")
    assert list((repo / ".git").glob("sharedindex.*"))
    assert b"link" in (repo / ".git" / "index").read_bytes()
    assert listed(repo) == ["sub"]
    assert read(repo) is None


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"garbage, not an index at all: " * 4,
        b"DIRC\0\0\0\x05\0\0\0\0" + bytes(20),  # version 5
        b"DIRX\0\0\0\x02\0\0\0\0" + bytes(20),
        b"DIRC\0\0\0\x02\0\0\0\x01" + bytes(20),  # one entry announced, none there
    ],
)
def test_what_is_not_an_index_is_left_to_git(tmp_path: Path, content: bytes) -> None:
    index = tmp_path / "index"
    index.write_bytes(content)
    assert gitlinks(index, 20) is None


def test_a_missing_or_unreadable_index_is_left_to_git(tmp_path: Path) -> None:
    assert gitlinks(tmp_path / "missing", 20) is None
    assert gitlinks(tmp_path, 20) is None  # a folder


def test_an_empty_index_is_read(tmp_path: Path) -> None:
    repo = tmp_path / "empty"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "update-index", "--add", "--cacheinfo", f"100644,{'e' * 40},gone")
    git(repo, "update-index", "--force-remove", "gone")
    assert gitlinks(repo / ".git" / "index", 20) == []


@pytest.mark.parametrize("index_version", [2, 4])
def test_an_index_cut_short_is_left_to_git(repo: Path, index_version: int) -> None:
    """Cut anywhere among the entries: None. Cut in the extensions: None, or the right answer
    when what is left happens to end where a checksum could (git would read that too)."""
    commit(repo, {f"dir/file{i}": f"{i}\n" for i in range(6)})
    index_info(repo, [("160000", git(repo, "rev-parse", "HEAD"), "dir/link")])
    git(repo, "update-index", "--index-version", str(index_version))
    data = (repo / ".git" / "index").read_bytes()
    entries_end = data.rindex(b"TREE")  # the cache tree comes right after the entries
    cut = repo.parent / "cut"
    for size in range(len(data)):
        cut.write_bytes(data[:size])
        found = gitlinks(cut, 20)
        if size < entries_end + 20:
            assert found is None, size
        else:
            assert found in (None, ["dir/link"]), size
    cut.write_bytes(data)
    assert gitlinks(cut, 20) == ["dir/link"] == listed(repo)


def _flags_at(data: bytearray, path: bytes) -> int:
    """Where the flags of path's entry are in a version 2 or 3 index (SHA-1)."""
    at = data.index(path + b"\0")
    return at - 4 if path == b"new.txt" else at - 2  # new.txt has two more flag bytes


def _shorter_name(data: bytearray) -> None:
    data[_flags_at(data, b"the-link") + 1] -= 1


def _unknown_extended_flag(data: bytearray) -> None:
    data[_flags_at(data, b"new.txt") + 2] |= 0x80  # the reserved bit


def _extended_flags_in_version_2(data: bytearray) -> None:
    data[7] = 2


def _extension_past_the_checksum(data: bytearray) -> None:
    size = data.rindex(b"TREE") + 4
    data[size : size + 4] = (int.from_bytes(data[size : size + 4], "big") + 1).to_bytes(4, "big")


@pytest.mark.parametrize(
    "damage",
    [
        _shorter_name,
        _unknown_extended_flag,
        _extended_flags_in_version_2,
        _extension_past_the_checksum,
    ],
)
def test_an_index_that_does_not_add_up_is_left_to_git(
    repo: Path, damage: Callable[[bytearray], None]
) -> None:
    """Each of these still finds the gitlink if its check is skipped, so each check is needed."""
    index_info(repo, [("160000", git(repo, "rev-parse", "HEAD"), "the-link")])
    git(repo, "commit", "-qm", "link")
    (repo / "new.txt").write_text("new\n")
    git(repo, "add", "-N", "new.txt")
    assert version(repo) == 3
    index = repo / ".git" / "index"
    assert read(repo) == ["the-link"]
    data = bytearray(index.read_bytes())
    damage(data)
    index.write_bytes(data)
    assert read(repo) is None


def test_a_damaged_index_never_raises(repo: Path) -> None:
    """Any single byte changed: an answer or None, never an exception."""
    commit(repo, {"a b/c": "c\n"})
    index_info(repo, [("160000", git(repo, "rev-parse", "HEAD"), "a b/link")])
    git(repo, "update-index", "--index-version", "4")
    data = bytearray((repo / ".git" / "index").read_bytes())
    damaged = repo.parent / "damaged"
    for at in range(len(data)):
        data[at] ^= 0xFF
        damaged.write_bytes(data)
        found = gitlinks(damaged, 20)
        assert found is None or all(isinstance(path, str) for path in found)
        assert found is None or at >= 8  # signature and version are always checked
        data[at] ^= 0xFF
