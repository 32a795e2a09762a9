"""What an agent does with git outside its task is refused or put back, and fails the task.

Attack agents are small shell scripts run by `genesis-par run`; each test checks the user's
refs, HEAD, index and config afterwards, and that `git fsck` is clean.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from genesis_par import gitops
from genesis_par.commands import run as run_cmd
from genesis_par.commands import status as status_cmd
from tests.conftest import commit, genesis_cmd, genesis_env, git, wait_for
from tests.helpers import fsck, gp
from tests.plans import write_plan


def _user_state(repo: Path) -> dict[str, Any]:
    """What an agent must leave alone: refs outside genesis-par's, HEAD, index, config."""
    refs = git(repo, "for-each-ref", "--format=%(objectname) %(refname)").splitlines()
    return {
        "refs": [r for r in refs if " refs/genesis/" not in r and " refs/heads/genesis/" not in r],
        "head": (repo / ".git" / "HEAD").read_text(),
        "index": (repo / ".git" / "index").read_bytes(),
        "config": (repo / ".git" / "config").read_text(),
        "status": git(repo, "status", "--porcelain"),
    }


@pytest.fixture
def user_repo(repo: Path) -> Path:
    """main with two commits, a branch feature and a tag v0."""
    commit(repo, {"app.txt": "v1\n"}, "second")
    git(repo, "branch", "feature", "HEAD~1")
    git(repo, "tag", "v0", "HEAD~1")
    return repo


def _run(repo: Path, capsys: pytest.CaptureFixture[str], body: str, name: str) -> dict[str, dict]:  # type: ignore[type-arg]
    plan = write_plan(repo, body, header=f'[run]\nname = "{name}"\nmax_parallel = 2\n')
    code = run_cmd.run(repo, plan, as_json=True)
    result = json.loads(capsys.readouterr().out)
    tasks = {t["id"]: t for t in result["tasks"]}
    assert code == (1 if any(t["status"] == "failed" for t in tasks.values()) else 0), result
    return tasks


def _task(task_id: str, script: str) -> str:
    return f"[[tasks]]\nid = {json.dumps(task_id)}\ncommand = {json.dumps(script)}\n"


GOOD = _task("good", "echo good > good.txt")


def test_committing_on_a_user_branch_is_refused_kept_aside_and_fails_the_task(
    user_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _user_state(user_repo)
    evil = "git checkout -q feature && echo x > x.txt && git add x.txt && git commit -qm evil"
    tasks = _run(user_repo, capsys, _task("bad", evil + "; exit 0") + GOOD, "co")
    assert tasks["bad"]["status"] == "failed" and tasks["bad"]["failure"] == "escaped"
    assert "tried to move refs/heads/feature (refused)" in tasks["bad"]["reason"]
    assert _user_state(user_repo) == before
    kept = "refs/genesis/co/bad/escaped/refs/heads/feature"
    assert git(user_repo, "log", "-1", "--format=%s", kept) == "evil"
    assert tasks["good"]["status"] == "succeeded"
    assert git(user_repo, "show", "genesis/co/integration:good.txt") == "good"
    assert status_cmd.status(user_repo, "co", as_json=True) == 0
    shown = json.loads(capsys.readouterr().out)
    assert {"task": "bad", "ref": kept} in shown["kept"]
    assert [t["failure"] for t in shown["tasks"] if t["id"] == "bad"] == ["escaped"]
    # the agent's worktree no longer holds feature: the user can check it out
    git(user_repo, "checkout", "-q", "feature")
    git(user_repo, "checkout", "-q", "main")
    fsck(user_repo)


@pytest.mark.parametrize(
    "attack",
    [
        "git update-ref refs/heads/main HEAD~1",
        "git update-ref -d refs/heads/feature",
        "git tag -f v0",
        "git tag v9",
        "git branch -f feature HEAD",
        "git stash -u -q",
        "git update-ref main-worktree/HEAD HEAD~1",
        "git update-ref refs/heads/genesis/refs/other HEAD",
    ],
)
def test_moving_deleting_or_making_user_refs_is_refused(
    user_repo: Path, capsys: pytest.CaptureFixture[str], attack: str
) -> None:
    before = _user_state(user_repo)
    tasks = _run(user_repo, capsys, _task("bad", f"echo w > w.txt; {attack}; exit 0"), "refs")
    assert tasks["bad"]["failure"] == "escaped", tasks["bad"]
    assert "(refused)" in tasks["bad"]["reason"]
    assert _user_state(user_repo) == before
    assert git(user_repo, "for-each-ref", "refs/heads/genesis/refs/other") == ""
    fsck(user_repo)


@pytest.mark.parametrize(
    ("attack", "key"),
    [
        ("git config core.hooksPath /tmp/x", "core.hookspath"),
        ("git config alias.st '!touch {marker}'", "alias.st"),
        ("git config --global alias.st '!touch {marker}'", "alias.st"),
        ("echo '[core]' >> $(git rev-parse --git-common-dir)/config", ""),
    ],
)
def test_config_changes_are_put_back_and_fail_the_task(
    user_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], attack: str, key: str
) -> None:
    marker = tmp_path / "marker"
    global_config = Path(genesis_env()["GIT_CONFIG_GLOBAL"])
    before, global_before = _user_state(user_repo), global_config.read_text()
    script = attack.format(marker=marker)
    tasks = _run(user_repo, capsys, _task("bad", script), "cfg")
    assert tasks["bad"]["failure"] == "escaped", tasks["bad"]
    assert "put back" in tasks["bad"]["reason"] and key in tasks["bad"]["reason"]
    assert _user_state(user_repo) == before
    assert global_config.read_text() == global_before
    kept = tasks["bad"]["reason"].split("its version kept in ")[1].split(";")[0].split(",")[0]
    assert Path(kept).read_text() != ""  # the agent's version, for the user to look at
    subprocess.run(["git", "st"], cwd=user_repo, capture_output=True, check=False)
    assert not marker.exists()
    fsck(user_repo)


def test_a_hook_written_into_the_shared_hooks_is_removed(
    user_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "marker"
    script = (
        'h="$(git rev-parse --git-common-dir)/hooks/post-commit"; '
        f'printf \'#!/bin/sh\\ntouch {marker}\\n\' > "$h"; chmod +x "$h"'
    )
    tasks = _run(user_repo, capsys, _task("bad", script), "hk")
    assert tasks["bad"]["failure"] == "escaped"
    assert "created .git/hooks/post-commit" in tasks["bad"]["reason"]
    assert not (user_repo / ".git" / "hooks" / "post-commit").exists()
    commit(user_repo, {"later.txt": "x"}, "the user's next commit")
    assert not marker.exists()


def test_a_sample_hook_made_live_or_edited_is_put_back(
    user_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """git runs no `*.sample`, but a user enables one by renaming it (as its own header says):
    an agent that renames a sample into a live hook, or plants code in one, is caught and
    the sample put back."""
    hooks = user_repo / ".git" / "hooks"
    marker = tmp_path / "marker"
    (hooks / "post-commit.sample").write_text("#!/bin/sh\nexit 0\n")
    (hooks / "pre-push.sample").write_text("#!/bin/sh\nexit 0\n")
    live = (
        'h="$(git rev-parse --git-common-dir)/hooks"; mv "$h/post-commit.sample" "$h/post-commit"'
    )
    live += '; chmod +x "$h/post-commit"'
    edit = f'echo "touch {marker}" >> "$(git rev-parse --git-common-dir)/hooks/pre-push.sample"'
    edit += " && echo e > e.txt"
    tasks = _run(user_repo, capsys, _task("live", live), "sm")
    assert tasks["live"]["failure"] == "escaped", tasks["live"]
    assert "created .git/hooks/post-commit" in tasks["live"]["reason"]
    assert not (hooks / "post-commit").exists()
    assert (hooks / "post-commit.sample").read_text() == "#!/bin/sh\nexit 0\n"
    tasks = _run(user_repo, capsys, _task("edit", edit), "se")
    assert tasks["edit"]["failure"] == "escaped", tasks["edit"]
    assert "changed .git/hooks/pre-push.sample" in tasks["edit"]["reason"]
    assert (hooks / "pre-push.sample").read_text() == "#!/bin/sh\nexit 0\n"
    commit(user_repo, {"later.txt": "x"}, "the user's next commit")
    assert not marker.exists()


def test_a_shallow_file_that_would_let_gc_delete_the_users_history_is_removed(
    user_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With .git/shallow naming the user's last commit, their next `git gc --prune=now`
    deletes every commit before it."""
    history = git(user_repo, "rev-list", "--branches", "--exclude=genesis/*")
    script = 'git rev-parse main > "$(git rev-parse --git-common-dir)/shallow"'
    tasks = _run(user_repo, capsys, _task("bad", script), "sh")
    assert tasks["bad"]["failure"] == "escaped", tasks["bad"]
    assert "created .git/shallow" in tasks["bad"]["reason"], tasks["bad"]["reason"]
    assert not (user_repo / ".git" / "shallow").exists()
    git(user_repo, "-c", "gc.reflogExpireUnreachable=now", "gc", "-q", "--prune=now")
    assert git(user_repo, "rev-list", "--branches", "--exclude=genesis/*") == history
    fsck(user_repo)


@pytest.mark.parametrize("fetch", ["--unshallow", "--deepen=1"])
def test_an_agent_may_fetch_history_into_a_shallow_clone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fetch: str
) -> None:
    """CI checks out shallow clones, and agents fetch the history they need: that changes
    .git/shallow too, but hides nothing the repository has, so the task is not failed."""
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git(upstream, "init", "-q", "-b", "main")
    for n in range(4):
        commit(upstream, {"f.txt": f"{n}\n"}, f"c{n}")
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{upstream}", "clone")
    clone = tmp_path / "clone"
    assert (clone / ".git" / "shallow").exists()
    tasks = _run(clone, capsys, _task("t", f"git fetch -q {fetch} && echo x > x.txt"), "fh")
    assert tasks["t"]["status"] == "succeeded", tasks["t"]
    depth = len(git(clone, "rev-list", "main").split())
    assert depth == (4 if fetch == "--unshallow" else 2)
    fsck(clone)


def test_fifos_an_agent_makes_in_hooks_and_info_never_hang_the_run(user_repo: Path) -> None:
    """The fence reads the files there after each agent process: a FIFO, opened for reading,
    waited for a writer forever (SIGTERM did not end the run). Now it is seen, not read."""
    script = "d=$(git rev-parse --git-common-dir); mkfifo $d/hooks/pre-commit $d/info/attributes"
    plan = write_plan(user_repo, _task("bad", script), header='[run]\nname = "ff"\n')
    done = gp(user_repo, "run", str(plan), "--json", timeout=60)
    result = json.loads(done.stdout)
    (bad,) = result["tasks"]
    assert done.returncode == 1 and bad["failure"] == "escaped", bad
    assert "created .git/hooks/pre-commit" in bad["reason"], bad["reason"]
    assert "created .git/info/attributes" in bad["reason"], bad["reason"]
    assert not (user_repo / ".git" / "hooks" / "pre-commit").exists()
    assert not (user_repo / ".git" / "info" / "attributes").exists()


def test_the_users_main_worktree_is_off_limits(
    user_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _user_state(user_repo)
    script = f"git -C {user_repo} checkout -q feature; cd {user_repo} && git reset -q --hard HEAD~1"
    tasks = _run(user_repo, capsys, _task("bad", script), "mw")
    assert tasks["bad"]["status"] == "failed" and tasks["bad"]["failure"] == "exit"
    log = Path(tasks["bad"]["log"]).read_text()
    assert "off-limits.config" in log  # git refused to run there
    assert _user_state(user_repo) == before
    fsck(user_repo)


def test_other_worktrees_are_off_limits_even_those_made_after_the_agent_started(
    user_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An agent's git refuses to run in the user's linked worktree and in another task's, also
    one made while the agent runs (late starts only once bad's agent has begun)."""
    users = tmp_path / "users-worktree"
    git(user_repo, "worktree", "add", "-q", str(users), "feature")
    began, done = tmp_path / "bad-began", tmp_path / "bad-done"
    out_late, out_users = tmp_path / "late.out", tmp_path / "users.out"

    def wait(path: Path) -> str:
        return f"i=0; while [ ! -e {path} ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done"

    seen = tmp_path / "bad-env"
    bad = (
        f"env | grep ^GIT_ > {seen}; touch {began}; {wait(Path('../late/.git'))}; "
        f"git -C ../late status > {out_late} 2>&1; echo exit $? >> {out_late}; "
        f"git -C {users} status > {out_users} 2>&1; echo exit $? >> {out_users}; touch {done}"
    )
    body = (
        _task("bad", bad)
        + _task("first", wait(began))
        + _task("late", wait(done)).replace("command", 'depends_on = ["first"]\ncommand')
    )
    before = _user_state(user_repo)
    users_head = (users / ".git").read_text()
    tasks = _run(user_repo, capsys, body, "ow")
    assert {t: tasks[t]["status"] for t in tasks} == dict.fromkeys(tasks, "succeeded")
    records = sorted(p.name for p in (user_repo / ".git" / "worktrees").iterdir())
    for out in (out_late, out_users):
        text = out.read_text()
        why = f"{text}\nrecords: {records}\nbad's git environment:\n{seen.read_text()}"
        assert "off-limits.config" in text and text.endswith("exit 128\n"), why
    assert _user_state(user_repo) == before
    assert (users / ".git").read_text() == users_head
    fsck(user_repo)


def test_a_worktree_without_its_git_link_never_finds_the_users_repository(
    user_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _user_state(user_repo)
    out = tmp_path / "out"
    script = (
        f"rm -f .git; echo w > w.txt; git status > {out} 2>&1; echo $? >> {out}; "
        f"git add -A >> {out} 2>&1; git commit -qm lost >> {out} 2>&1; exit 0"
    )
    tasks = _run(user_repo, capsys, _task("t", script), "nogit")
    said = out.read_text()
    assert "not a git repository" in said and said.count("fatal") == 3
    assert _user_state(user_repo) == before
    # genesis-par put the link back, failed the task (its worktree was not what it made:
    # issue 13) and kept the work under the attempt's ref
    assert (tasks["t"]["status"], tasks["t"]["failure"]) == ("failed", "worktree")
    assert git(user_repo, "show", "refs/genesis/nogit/t/attempt-1:w.txt") == "w"
    fsck(user_repo)


def test_an_agent_rewriting_its_branch_to_unrelated_history_fails_it(
    user_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = (
        'c=$(git commit-tree "HEAD^{{tree}}" -m unrelated) && '
        'git update-ref "refs/heads/$GENESIS_BRANCH" "$c"'
    )
    tasks = _run(user_repo, capsys, _task("t", script), "hist")
    assert tasks["t"]["failure"] == "history", tasks["t"]
    assert "without its start commit" in tasks["t"]["reason"]
    assert git(user_repo, "rev-parse", "genesis/hist/t") == git(user_repo, "rev-parse", "main")
    kept = "refs/genesis/hist/t/escaped/refs/heads/genesis/hist/t"
    assert git(user_repo, "log", "-1", "--format=%s", kept) == "unrelated"


def test_an_agent_deleting_its_own_branch_is_refused(
    user_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = 'git update-ref -d "refs/heads/$GENESIS_BRANCH"; echo w > w.txt; exit 0'
    tasks = _run(user_repo, capsys, _task("t", script), "del")
    assert tasks["t"]["failure"] == "history"
    assert "tried to delete its branch genesis/del/t (refused)" in tasks["t"]["reason"]
    assert git(user_repo, "rev-parse", "genesis/del/t") == git(user_repo, "rev-parse", "main")


def test_a_branch_the_agent_makes_is_set_aside_and_its_work_lands(
    user_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _user_state(user_repo)
    script = "git checkout -q -b mine && echo w > w.txt && git add w.txt && git commit -qm mine"
    tasks = _run(user_repo, capsys, _task("t", script), "mk")
    assert tasks["t"]["status"] == "succeeded"
    assert _user_state(user_repo) == before  # no branch "mine" among the user's
    assert git(user_repo, "log", "-1", "--format=%s", "refs/genesis/mk/t/branches/mine") == "mine"
    assert git(user_repo, "show", "genesis/mk/t:w.txt") == "w"


def test_the_users_own_commits_during_a_run_are_never_undone(
    user_repo: Path, tmp_path: Path
) -> None:
    ready, go = tmp_path / "ready", tmp_path / "go"
    agent = (
        f"import pathlib, time; pathlib.Path({str(ready)!r}).touch(); "
        f"deadline = time.time() + 30\n"
        f"while not pathlib.Path({str(go)!r}).exists() and time.time() < deadline: time.sleep(0.02)"
    )
    body = f'[[tasks]]\nid = "t"\ncommand = {json.dumps([sys.executable, "-c", agent])}\n'
    plan = write_plan(user_repo, body, header='[run]\nname = "user"\n')
    run = subprocess.Popen(
        [*genesis_cmd(), "run", str(plan), "--json", "--no-merge"],
        cwd=user_repo,
        env=genesis_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(ready.exists, "the agent to start")
        mine = commit(user_repo, {"user.txt": "mine\n"}, "the user's own commit")
        git(user_repo, "tag", "v1")
        go.touch()
        out, _ = run.communicate(timeout=60)
    finally:
        run.kill()
    task = json.loads(out)["tasks"][0]
    assert task["status"] == "succeeded", task
    assert git(user_repo, "rev-parse", "main") == mine
    assert git(user_repo, "rev-parse", "v1") == mine
    log = Path(task["log"]).read_text()
    assert "refs/heads/main changed while task t ran" in log and "left as it is" in log


def test_the_users_own_hooks_still_run_for_the_agents_commits(
    user_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "marker"
    hook = user_repo / ".git" / "hooks" / "post-commit"
    hook.write_text(f'#!/bin/sh\necho "$0" > {marker}\n')
    hook.chmod(0o755)
    script = "echo w > w.txt && git add w.txt && git commit -qm w"
    tasks = _run(user_repo, capsys, _task("t", script), "uh")
    assert tasks["t"]["status"] == "succeeded"
    assert marker.read_text().strip() == str(hook)  # $0 is the user's hook itself


def test_the_users_hooks_folder_is_read_once_a_run_so_an_agent_cannot_redirect_it(
    user_repo: Path, tmp_path: Path
) -> None:
    """Fences of one run share what core.hooksPath was at the first of them: a fence that
    begins while another task's agent has pointed core.hooksPath at its own hooks (before
    that agent's fence puts it back) still chains the agent's git to the user's hooks."""
    user_hooks, evil_hooks = tmp_path / "user-hooks", tmp_path / "evil-hooks"
    for folder in (user_hooks, evil_hooks):
        folder.mkdir()
        hook = folder / "post-commit"
        hook.write_text("#!/bin/sh\n")
        hook.chmod(0o755)
    git(user_repo, "config", "core.hooksPath", str(user_hooks))
    repo = gitops.discover(user_repo)
    shared = gitops.UserHooks()

    def scope(task: str) -> gitops.Scope:
        worktree = user_repo / ".genesis" / "worktrees" / task
        git(user_repo, "worktree", "add", "-q", "--detach", str(worktree))
        state = user_repo / ".git" / "genesis-par"
        log = tmp_path / f"{task}.log"
        return gitops.Scope(repo, "r", task, worktree, None, state, "1", log, user_hooks=shared)

    first, second = scope("first"), scope("second")
    with gitops.guard(first):
        git(user_repo, "config", "core.hooksPath", str(evil_hooks))  # what first's agent did
        with gitops.guard(second) as fence:
            stub = (fence.scope.folder / "hooks" / "post-commit").read_text()
    assert str(user_hooks / "post-commit") in stub and str(evil_hooks) not in stub
    assert git(user_repo, "config", "core.hooksPath") == str(user_hooks)  # put back


def test_fences_beginning_at_once_read_the_users_hooks_folder_once(
    user_repo: Path, tmp_path: Path
) -> None:
    """Two fences begin at once at a run's start: the second waits for the first's read of
    core.hooksPath instead of asking git again, by when the first task's agent may have
    changed it. Each worktree's git reads a FIFO of its own (an includeIf on its branch)
    that is held open and empty: the second can be held until after that change."""
    user_hooks, evil_hooks = tmp_path / "user-hooks", tmp_path / "evil-hooks"
    git(user_repo, "config", "core.hooksPath", str(user_hooks))
    trees = [user_repo / ".genesis" / "worktrees" / name for name in ("first", "second")]
    common, config = user_repo / ".git", user_repo / ".git" / "config"
    for tree in trees:
        git(user_repo, "worktree", "add", "-q", "-b", tree.name, str(tree))
        os.mkfifo(tmp_path / f"{tree.name}.config")
        config.write_text(
            config.read_text() + f'[includeIf "onbranch:{tree.name}"]\n'
            f"\tpath = {tmp_path / tree.name}.config\n"
        )
    shared = gitops.UserHooks()
    found: dict[str, Path] = {}
    first, second = (
        threading.Thread(target=lambda t=t: found.update({t.name: shared.folder(t, common)}))
        for t in trees
    )
    held: dict[str, list[int]] = {"first": [], "second": []}

    def hold(name: str) -> bool:
        return _open_writer(tmp_path / f"{name}.config", held[name])

    def release(name: str) -> None:  # git reads its config more than once: a plain file then
        (tmp_path / "empty.config").touch()
        os.replace(tmp_path / "empty.config", tmp_path / f"{name}.config")
        for fd in held[name]:
            os.close(fd)

    first.start()
    wait_for(lambda: hold("first"), "the first fence's git to open its FIFO")
    second.start()
    wait_for(
        lambda: _waits_for_the_first_read(second) or hold("second"),
        "the second fence to wait for the first read, or to ask git itself",
    )
    release("first")
    first.join(timeout=30)
    changed = config.read_text().replace(str(user_hooks), str(evil_hooks))
    (common / "config.new").write_text(changed)  # what the first agent does, as git writes
    os.replace(common / "config.new", config)
    release("second")
    second.join(timeout=30)
    assert found == {"first": user_hooks, "second": user_hooks}


def _open_writer(fifo: Path, writer: list[int]) -> bool:
    """Open the FIFO for writing (kept in writer) if a process has it open for reading."""
    try:
        writer.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        return False
    return True


def _waits_for_the_first_read(thread: threading.Thread) -> bool:
    """Whether thread is in UserHooks.folder at its lock (a C call: no frame of its own)."""
    frame = sys._current_frames().get(thread.ident or 0)
    code = gitops.UserHooks.folder.__code__
    return frame is not None and frame.f_code is code and "_reading_hooks" in code.co_names
