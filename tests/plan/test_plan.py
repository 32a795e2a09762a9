from __future__ import annotations

import os
import re
import resource
import subprocess
import textwrap
from pathlib import Path

import pytest

from genesis_par import plan
from genesis_par.errors import PlanError
from genesis_par.plan import values as plan_values
from genesis_par.plan.model import Command, MergeMethod, Priority, Strategy
from tests.conftest import genesis_cmd, genesis_env

GOOD = """\
version = 1

[run]
name = "auth"
base = "main"
max_parallel = 3
strategy = "priority"

[defaults]
agent = "claude"
timeout = "30m"
memory = "4GiB"
retries = 1
check = "pytest -q"

[agents.claude]
command = ["claude", "-p", "{prompt}"]

[agents.sh]
command = "my-agent --task {task} {prompt}"

[merge]
into = "integration/{run}"
method = "squash"
check = ["pytest", "-q"]

[[tasks]]
id = "api"
prompt = "Add pagination"
priority = "high"
paths = ["src/api/**"]
locks = ["db"]
cost = 3
cpu = 1.5
env = { A = "1" }

[[tasks]]
id = "docs"
command = "make docs"
depends_on = ["api"]
timeout = "1h30m"
memory = "512MiB"

[[tasks]]
id = "web"
agent = "sh"
prompt_file = "prompts/web.md"
retries = 0
"""


def write(tmp_path: Path, text: str, name: str = "plan.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_full_plan_loads_into_typed_values(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "web.md").write_text("Build the page\n")
    p = plan.load(write(tmp_path, GOOD))
    assert p.run.name == "auth" and p.run.base == "main" and p.run.max_parallel == 3
    assert p.run.strategy is Strategy.PRIORITY
    assert p.merge.into == "integration/{run}" and p.merge.method is MergeMethod.SQUASH
    assert p.merge.check == Command(("pytest", "-q"))
    api, docs, web = p.tasks
    assert api.command == Command(("claude", "-p", "{prompt}")) and api.agent == "claude"
    assert api.prompt == "Add pagination" and api.priority is Priority.HIGH
    assert api.paths == ("src/api/**",) and api.locks == ("db",) and api.cost == 3.0
    assert api.timeout_s == 1800 and api.memory_bytes == 4 * 2**30 and api.retries == 1
    assert api.cpu == 1.5 and api.env == (("A", "1"),)
    assert api.check == Command(("pytest -q",), shell=True)
    assert docs.command == Command(("make docs",), shell=True) and docs.agent is None
    assert (
        docs.depends_on == ("api",) and docs.timeout_s == 5400 and docs.memory_bytes == 512 * 2**20
    )
    assert web.command.shell and web.prompt == "Build the page\n"
    assert web.prompt_file == (tmp_path / "prompts" / "web.md").resolve() and web.retries == 0
    assert [t.index for t in p.tasks] == [0, 1, 2]


def test_run_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    p = plan.load(
        write(tmp_path, 'version = 1\n[[tasks]]\nid = "a"\ncommand = "true"\n', "nightly.toml")
    )
    assert p.run.name == "nightly" and p.run.base == "HEAD" and p.run.max_parallel == 4
    assert p.run.strategy is Strategy.CRITICAL_PATH and p.merge.method is MergeMethod.MERGE


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90s", 90), ("30m", 1800), ("1h30m", 5400), (45, 45), (2.5, 2.5), ("1h", 3600)],
)
def test_durations(value: object, seconds: float) -> None:
    assert (
        plan_values.parse_duration(value, plan_values.Where(Path("p.toml")), "timeout") == seconds
    )


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("512MiB", 512 * 2**20),
        ("4GiB", 4 * 2**30),
        ("2GB", 2 * 10**9),
        ("100KB", 100_000),
        (1024, 1024),
    ],
)
def test_sizes(value: object, size: int) -> None:
    assert plan_values.parse_size(value, plan_values.Where(Path("p.toml")), "memory") == size


TASK = '[[tasks]]\nid = "a"\ncommand = "true"\n'

BAD = [
    ("version = 1\n[[tasks]\n", "invalid TOML"),
    ("version = 1\n[[tasks]]\nid = 'a'\ncommand = 'x' 'y'\n", "line 4"),
    (TASK, "missing version"),
    ("version = 2\n" + TASK, "unsupported version 2"),
    (
        "version = 1\nverison = 1\n" + TASK,
        'unknown key "verison" in the plan (did you mean "version"?)',
    ),
    ("version = 1\n[run]\nmax_paralel = 2\n" + TASK, 'did you mean "max_parallel"'),
    ("version = 1\n[merge]\nmethdo = 'merge'\n" + TASK, 'did you mean "method"'),
    ("version = 1\n[defaults]\ntimout = 5\n" + TASK, 'did you mean "timeout"'),
    ("version = 1\n[agents.x]\ncomand = 'x'\n" + TASK, 'did you mean "command"'),
    ("version = 1\n" + TASK + "priorty = 'high'\n", 'task "a": unknown key "priorty"'),
    ("version = 1\n", "has no tasks"),
    ("version = 1\n" + TASK + TASK, 'task "a": duplicate task id'),
    (
        "version = 1\n[[tasks]]\nid = 'a b'\ncommand = 'x'\n",
        'task id "a b" cannot be used in a git branch',
    ),
    ("version = 1\n[[tasks]]\nid = 'x.lock'\ncommand = 'x'\n", "git branch name"),
    ("version = 1\n[[tasks]]\nid = 'a..b'\ncommand = 'x'\n", "git branch name"),
    ("version = 1\n[[tasks]]\nid = '-a'\ncommand = 'x'\n", "git branch name"),
    ("version = 1\n[run]\nname = 'my run'\n" + TASK, "git branch name"),
    (
        "version = 1\n" + TASK + "depends_on = ['apii']\n[[tasks]]\nid = 'api'\ncommand = 'x'\n",
        'task "a": depends_on names unknown task "apii" (did you mean "api"?)',
    ),
    ("version = 1\n" + TASK + "depends_on = ['a']\n", 'task "a": depends_on names the task itself'),
    (
        "version = 1\n[[tasks]]\nid = 'a'\ncommand = 'x'\ndepends_on = ['b']\n"
        "[[tasks]]\nid = 'b'\ncommand = 'x'\ndepends_on = ['a']\n",
        "dependency cycle: a -> b -> a",
    ),
    (
        "version = 1\n[agents.c]\ncommand = 'c'\n[[tasks]]\nid = 'a'\nagent = 'c'\ncommand = 'x'\n",
        "has both agent and command",
    ),
    ("version = 1\n[[tasks]]\nid = 'a'\n", "has neither agent nor command"),
    ("version = 1\n[[tasks]]\nid = 'a'\ncommand = 'x'\nprompt = 'hi'\n", "a prompt needs an agent"),
    (
        "version = 1\n[agents.claude]\ncommand = 'c'\n[[tasks]]\nid = 'a'\nagent = 'claud'\n",
        'agent "claud" is not defined (did you mean "claude"?)',
    ),
    (
        "version = 1\n[agents.c]\ncommand = 'c'\n[[tasks]]\nid = 'a'\nagent = 'c'\nprompt_file = 'nope.md'\n",
        'prompt_file "nope.md" not found',
    ),
    ("version = 1\n" + TASK + "timeout = '5 minutes'\n", 'timeout "5 minutes" is not a duration'),
    ("version = 1\n" + TASK + "timeout = -5\n", "timeout must be positive"),
    ("version = 1\n" + TASK + "memory = 'lots'\n", 'memory "lots" is not a size'),
    (
        "version = 1\n" + TASK + "priority = 'urgent'\n",
        'priority "urgent" is not one of low, normal, high, critical',
    ),
    ("version = 1\n[run]\nstrategy = 'fastest'\n" + TASK, '[run] strategy "fastest" is not one of'),
    (
        "version = 1\n[merge]\nmethod = 'octopus'\n" + TASK,
        '[merge] method "octopus" is not one of merge, squash, rebase',
    ),
    ("version = 1\n[run]\nmax_parallel = 0\n" + TASK, "max_parallel must be at least 1"),
    ("version = 1\n" + TASK + "retries = -1\n", "retries must not be negative"),
    (
        "version = 1\n[[tasks]]\nid = 'a'\ncommand = 'run {promt}'\n",
        'unknown variable {promt} (did you mean "prompt"?)',
    ),
    ("version = 1\n" + TASK + "env = { A = 1 }\n", 'env "A" must be a string, not int 1'),
    ("version = 1\n" + TASK + "retries = 'two'\n", "retries must be an integer"),
    ("version = 1\n" + TASK + "paths = 'src'\n", "paths must be a list of strings"),
    ("version = 1\n[run]\nmax_parallel = true\n" + TASK, "max_parallel must be an integer"),
    ("version = 1\n" + TASK + "cpu = 0\n", "cpu must be a positive number"),
    ("version = 1\n[[tasks]]\nid = 'a'\ncommand = []\n", "command must be a non-empty string"),
    ("version = 1\ntasks = 3\n", "tasks must be an array"),
    ("version = 1\n" + TASK + "timeout = nan\n", "timeout must be positive and finite"),
    (
        "version = 1\n[agents.c]\ncommand = ['c', '{prompt}']\n[[tasks]]\nid = 'a'\nagent = 'c'\n"
        f"prompt = '{'x' * 200_000}'\n",
        "its prompt is 200,000 bytes, too long for {prompt} on a command line",
    ),
    (
        "version = 1\n[defaults]\ntimeout = 'soon'\n" + TASK,
        'plan.toml: [defaults] (for task "a"): timeout "soon" is not a duration',
    ),
    (
        "version = 1\n[defaults]\ntimeout = 'soon'\n" + TASK + "timeout = 'x'\n",
        'task "a": timeout "x"',
    ),
    ("version = 1\n" + TASK + "timeout = inf\n", "timeout must be positive and finite"),
    ("version = 1\n" + TASK + "cost = inf\n", "cost must be a finite number"),
    ("version = 1\n" + TASK + "env = { 'A=B' = 'x' }\n", 'env name "A=B" is not a variable'),
    ("version = 1\n" + TASK + "env = { '' = 'x' }\n", 'env name "" is not a variable'),
    ("version = 1\n[[tasks]]\nid = '" + "x" * 300 + "'\ncommand = 'x'\n", "keep it to 100"),
    ("version = 1\n[run]\nname = '" + "r" * 101 + "'\n" + TASK, "keep it to 100"),
    ("version = 1\n[merge]\ninto = 'int/{runn}'\n" + TASK, "unknown variable {runn}"),
    ("version = 1\n[merge]\ninto = 'int..x y'\n" + TASK, 'into "int..x y" is not a valid'),
    ("version = 1\n[merge]\ninto = 'a/.b'\n" + TASK, "is not a valid branch name"),
    ("version = 1\n[merge]\ninto = 'x.lock'\n" + TASK, "is not a valid branch name"),
    # NUL cannot be in an argument or an environment variable: validate refuses what run cannot do
    (
        'version = 1\n[agents.c]\ncommand = ["c", "{prompt}"]\n[[tasks]]\nid = "a"\nagent = "c"\n'
        'prompt = "a\\u0000b"\n',
        'task "a": prompt contains a NUL character',
    ),
    ('version = 1\n[[tasks]]\nid = "a"\ncommand = "echo \\u0000"\n', "command contains a NUL"),
    ('version = 1\n[run]\nbase = "ma\\u0000in"\n' + TASK, "[run] base contains a NUL"),
    (
        'version = 1\n[defaults]\ncheck = ["x\\u0000"]\n' + TASK,
        '[defaults] (for task "a"): check contains a NUL',
    ),
    (
        'version = 1\n[agents.c]\ncommand = ["c", "{prompt_file}"]\n[[tasks]]\nid = "a"\n'
        'agent = "c"\nprompt_file = "a\\u0000b"\n',
        'task "a": prompt_file contains a NUL',
    ),
    (
        "version = 1\n[[tasks]]\nid = 'a'\ncommand = \"cat <<'EOF'\\n{task}\\nEOF\"\n",
        "command puts {task} in a quoted here-document (<<'EOF'), where the shell expands nothing",
    ),
    ("version = 1\n[merge]\ninto = 'refs/tags/v0'\n" + TASK, '"refs/tags/v0" is not a branch'),
    ("version = 1\n[merge]\ninto = 'refs/heads/HEAD'\n" + TASK, "is not a valid branch name"),
    ("version = 1\n[merge]\ninto = 'ORIG_HEAD'\n" + TASK, "is not a valid branch name"),
    ("version = 1\n[merge]\ninto = '-x'\n" + TASK, "is not a valid branch name"),
    ("version = 1\n[merge]\ninto = 'refs/heads/refs/x'\n" + TASK, "is ambiguous"),
    ("version = 1\n[merge]\ninto = 'genesis/{run}/a'\n" + TASK, 'is the branch of task "a"'),
    ("version = 1\n[merge]\ninto = 'genesis/plan'\n" + TASK, "clashes with the run's task"),
    ("version = 1\n[merge]\ninto = 'genesis'\n" + TASK, "clashes with the run's task"),
    ("version = 1\n[merge]\ninto = 'genesis/{run}/a/b'\n" + TASK, "clashes with the run's"),
    (
        "version = 1\n[[tasks]]\nid = 'integration'\ncommand = 'true'\n",
        'task "integration": its branch genesis/plan/integration is the merge target',
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_plans_get_one_line_naming_the_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PlanError) as info:
        plan.load(path)
    message = str(info.value)
    assert message.startswith("plan.toml: ") or "no such plan file" in message
    assert expected in message
    assert "\n" not in message


def test_a_prompt_file_that_is_not_text(tmp_path: Path) -> None:
    (tmp_path / "bin.md").write_bytes(b"\xff\xfe\x00")
    text = "version = 1\n[agents.c]\ncommand = 'c'\n[[tasks]]\nid = 'a'\nagent = 'c'\n"
    with pytest.raises(
        PlanError, match=re.escape('task "a": prompt_file "bin.md" is not UTF-8 text')
    ):
        plan.load(write(tmp_path, text + "prompt_file = 'bin.md'\n"))


def test_paths_are_relative_to_the_repository_root(tmp_path: Path) -> None:
    text = "version = 1\n" + TASK + "paths = ['./src/**', 'a/./b/*.py', '.', 'docs/']\n"
    assert plan.load(write(tmp_path, text)).tasks[0].paths == ("src/**", "a/b/*.py", "**", "docs")
    for bad in ("/etc/x", "../up/**", ".."):
        with pytest.raises(PlanError, match="must be a glob inside the repository"):
            plan.load(write(tmp_path, "version = 1\n" + TASK + f"paths = ['{bad}']\n"))


def test_a_good_merge_target_passes(tmp_path: Path) -> None:
    for into in (
        "main",
        "refs/heads/team/int-{run}",
        "genesis/{run}/integration",
        "genesis/{run}/ab",
        "genesis/other/a",
        "a/HEAD",
        "@x",
    ):
        p = plan.load(write(tmp_path, f"version = 1\n[merge]\ninto = '{into}'\n" + TASK))
        assert p.merge.into == into


def test_missing_plan_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="no such plan file"):
        plan.load(tmp_path / "nope.toml")


def test_literal_braces_are_allowed(tmp_path: Path) -> None:
    p = plan.load(
        write(tmp_path, "version = 1\n[[tasks]]\nid = 'a'\ncommand = 'echo {{x}} {task}'\n")
    )
    assert p.tasks[0].command.argv == ("echo {{x}} {task}",)


@pytest.mark.parametrize(("text", "expected"), BAD[:6] + BAD[17:20])
def test_cli_exits_2_with_one_line_and_no_traceback(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    out = subprocess.run(
        [*genesis_cmd(), "validate", str(path)], capture_output=True, text=True, env=genesis_env()
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert expected in out.stderr.replace("\n", "")


AGENT_TASK = "version = 1\n[agents.c]\ncommand = ['c', '{prompt_file}']\n[[tasks]]\nid = 'a'\n"


def test_a_prompt_file_holding_a_nul_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p.md").write_bytes(b"fix it\x00now")
    with pytest.raises(PlanError, match=re.escape('task "a": prompt_file "p.md" contains a NUL')):
        plan.load(write(tmp_path, AGENT_TASK + "agent = 'c'\nprompt_file = 'p.md'\n"))


def _special_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Files a plan or prompt_file must never be read from, and why each is refused."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # nobody writes to it: reading it would wait forever
    big = tmp_path / "big"
    with big.open("wb") as handle:  # sparse: 9 MiB that take no disk
        handle.truncate(9 * 2**20)
    (tmp_path / "folder").mkdir()
    return {
        "zero": (Path("/dev/zero"), "is a character device, not a regular file"),
        "fifo": (fifo, "is a FIFO (named pipe), not a regular file"),
        "big": (big, "is larger than 8 MiB, the most genesis-par reads"),
        "folder": (tmp_path / "folder", "is a directory, not a regular file"),
    }


@pytest.mark.parametrize("kind", ["zero", "fifo", "big", "folder"])
def test_a_prompt_file_that_is_not_a_small_regular_file_is_refused(
    tmp_path: Path, kind: str
) -> None:
    file, why = _special_files(tmp_path)[kind]
    text = AGENT_TASK + f"agent = 'c'\nprompt_file = '{file}'\n"
    with pytest.raises(PlanError) as info:
        plan.load(write(tmp_path, text))
    assert str(info.value) == f'plan.toml: task "a": prompt_file "{file}" {why} ({file})'


def _one_gib_of_memory() -> None:
    """On the old code /dev/zero was read until memory ran out: fail fast instead."""
    resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))


@pytest.mark.parametrize("kind", ["zero", "fifo", "big", "folder"])
def test_validate_refuses_a_plan_that_is_not_a_small_regular_file(
    tmp_path: Path, kind: str
) -> None:
    file, why = _special_files(tmp_path)[kind]
    out = subprocess.run(
        [*genesis_cmd(), "validate", str(file)],
        capture_output=True,
        text=True,
        env=genesis_env(),
        timeout=60,
        preexec_fn=_one_gib_of_memory,
    )
    assert (out.returncode, out.stdout) == (2, "")
    assert (
        out.stderr.replace("\n", "")
        == f"error: {file}: the plan {why}: name a plan file (TOML text)"
    )
