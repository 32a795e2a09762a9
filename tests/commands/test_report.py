from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import xmlschema

from genesis_par import plan
from genesis_par.commands import report as report_cmd
from genesis_par.commands import run as run_cmd
from genesis_par.errors import EnvironmentProblem
from genesis_par.report.formats import printable
from tests.conftest import genesis_cmd, genesis_env, user_error
from tests.helpers import render, with_peak_memory
from tests.plans import py, write_plan


def test_a_preset_agent_needs_no_agents_table_and_a_missing_one_exits_4(
    repo: Path, tmp_path: Path
) -> None:
    path = tmp_path / "p.toml"
    path.write_text('version = 1\n[[tasks]]\nid = "fix"\nagent = "aider"\nprompt = "fix it"\n')
    loaded = plan.load(path)
    assert loaded.tasks[0].command.argv[0] == "aider"
    assert "--message={prompt}" in loaded.tasks[0].command.argv
    env_path = os.environ["PATH"]
    only_git = tmp_path / "bin"
    only_git.mkdir()
    (only_git / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    os.environ["PATH"] = str(only_git)
    try:
        with pytest.raises(EnvironmentProblem, match=r'agent "aider" .* is not installed') as info:
            run_cmd.run(repo, path)
    finally:
        os.environ["PATH"] = env_path
    assert info.value.exit_code == 4 and "aider-install" in str(info.value)
    assert not (repo / ".genesis").exists()


def test_a_plan_agent_table_overrides_a_preset(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        'version = 1\n[agents.claude]\ncommand = ["my-claude", "{prompt}"]\n'
        '[[tasks]]\nid = "a"\nagent = "claude"\nprompt = "x"\n'
    )
    assert plan.load(path).tasks[0].command.argv == ("my-claude", "{prompt}")


# an agent's colours and control characters must not break the XML or HTML reports
COLOURED_FAILURE = r"print('\x1b[31mabout to fail\x1b[0m\x01\x1b]0;title\x07'); raise SystemExit(2)"


@pytest.fixture
def finished_run(repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    summary = tmp_path / "summary.md"
    plan_path = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "good"
        retries = 1
        command = {py(f"import pathlib, sys; p = pathlib.Path({str(tmp_path / 'flag')!r}); print('hello from good'); open('g.txt', 'w').write('g'); sys.exit(0 if p.exists() else p.touch() or 1)")}

        [[tasks]]
        id = "bad"
        command = {py(COLOURED_FAILURE)}

        [[tasks]]
        id = "after"
        depends_on = ["bad"]
        command = "true"
    """,
        header='[run]\nname = "rep"\n',
    )
    code = run_cmd.run(
        repo, plan_path, as_json=True, env={**os.environ, "GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert code == 1
    capsys.readouterr()
    assert "## genesis-par run `rep`: failed" in summary.read_text()
    return repo


def test_junit_counts_failed_and_skipped(
    finished_run: Path, capsys: pytest.CaptureFixture[str], junit_xsd: Path
) -> None:
    assert report_cmd.run(finished_run, "rep", fmt="junit") == 0
    xml = capsys.readouterr().out
    xmlschema.XMLSchema(junit_xsd).validate(
        xml
    )  # raises with the offending element when the XML does not fit
    root = ET.fromstring(xml.split("\n", 1)[1])
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["bad"].find("failure") is not None
    assert cases["bad"].find("failure").get("type") == "exit"  # type: ignore[union-attr]
    assert "about to fail" in (cases["bad"].findtext("system-out") or "")
    assert cases["after"].find("skipped") is not None
    assert cases["good"].find("failure") is None and cases["good"].find("skipped") is None


def test_json_report_is_the_run_object(
    finished_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert report_cmd.run(finished_run, "rep", fmt="json") == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["version"] == 1 and obj["run"] == "rep" and obj["status"] == "failed"
    assert [t["id"] for t in obj["tasks"]] == ["good", "bad", "after"]


def test_a_report_it_cannot_write_is_one_line_and_exit_2(
    finished_run: Path, tmp_path: Path
) -> None:
    """-o in a missing folder: was a traceback and exit 1."""
    where = tmp_path / "no" / "such" / "r.html"
    assert user_error(["report", "rep", "-f", "html", "-o", str(where)], cwd=finished_run) == (
        f"error: --output {where}: cannot write the report there (No such file or directory): "
        "name a file in a folder that exists and that you can write to"
    )


def test_html_report_has_one_bar_per_attempt(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.html"
    assert report_cmd.run(finished_run, "rep", fmt="html", output=out) == 0
    page = out.read_text()
    # good failed once then succeeded, bad failed, after was skipped: three attempts
    assert len(re.findall(r'<div class="bar (ok|bad)"', page)) == 3
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    broken = tmp_path / "broken.html"
    broken.write_text("<!doctype html><p>x</p><script>console.error('seen'); nope();</script>")
    _, noise = render(broken)
    assert len(noise) == 2, noise  # the console check sees errors when there are some
    dom, console_lines = render(out)
    assert console_lines == []
    assert dom.count('class="bar ') == 3


def test_an_unwritable_step_summary_is_a_note_not_a_crash(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_path = write_plan(repo, '[[tasks]]\nid = "a"\ncommand = "true"\n')
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(tmp_path / "no" / "such" / "dir" / "s.md")}
    assert run_cmd.run(repo, plan_path, as_json=True, env=env) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["status"] == "succeeded"
    assert "could not append to GITHUB_STEP_SUMMARY" in captured.err


def test_reports_show_work_left_unmerged(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A task that succeeded but was not merged (a conflict) fails in JUnit, is flagged in the
    Markdown table and listed in the HTML; the HTML's embedded data is valid JSON."""
    plan_path = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "first"
        priority = "high"
        command = {py("open('README.md', 'w').write('first </script> <b>')")}

        [[tasks]]
        id = "second"
        command = {py("open('README.md', 'w').write('second')")}
    """,
        header='[run]\nname = "um"\n',
    )
    assert run_cmd.run(repo, plan_path, as_json=True) == 3
    capsys.readouterr()
    assert report_cmd.run(repo, "um", fmt="junit") == 0
    suite = ET.fromstring(capsys.readouterr().out.split("\n", 1)[1]).find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    failure = next(c for c in suite.iter("testcase") if c.get("name") == "second").find("failure")
    assert failure is not None and failure.get("type") == "unmerged"
    assert "README.md (content) with first" in (failure.get("message") or "")
    assert report_cmd.run(repo, "um", fmt="markdown") == 0
    assert "| `second` | ✅ succeeded, ⚠️ not merged |" in capsys.readouterr().out
    out = tmp_path / "um.html"
    assert report_cmd.run(repo, "um", fmt="html", output=out) == 0
    page = out.read_text()
    assert '<li class="unmerged"><code>second</code> not merged: conflicts' in page
    data = page.split('<script type="application/json" id="run-data">')[1].split("</script>")[0]
    assert json.loads(data)["merge"]["merged"] == ["first"]  # as a browser would read it


def test_the_live_view_shows_an_agents_last_line_without_its_control_codes(tmp_path: Path) -> None:
    from genesis_par.report import run_view

    log = tmp_path / "a.log"
    log.write_text("first\n\x1b[2J\x1b[H\x1b]0;title\x07\x1b[31mred\x1b[0m\tdone\r\n")
    assert run_view.last_line(log) == "red done"


def _report_in_a_child(repo: Path, fmt: str, out: Path) -> int:
    """Run `report` in its own process; its peak resident memory in bytes."""
    peak = out.with_suffix(".peak")
    argv = with_peak_memory(
        [*genesis_cmd(), "report", "rep", "--format", fmt, "-o", str(out)], peak
    )
    done = subprocess.run(argv, cwd=repo, env=genesis_env(), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(peak.read_text())


@pytest.mark.parametrize("fmt", ["json", "junit", "html"])
def test_a_huge_log_is_never_read_whole(
    finished_run: Path, tmp_path: Path, fmt: str, request: pytest.FixtureRequest
) -> None:
    """200 MB of log (sparse: no disk) once took 400+ MB of memory even for JSON; the reports
    show its end, capped, with a note saying where the whole log is."""
    log = Path(json.loads(_show_json(finished_run))["bad"])
    with log.open("ab") as handle:
        handle.truncate(200 * 2**20)
        handle.write(b"".join(b"line %d\n" % i for i in range(20_000)))
    out = tmp_path / f"report.{fmt}"
    assert _report_in_a_child(finished_run, fmt, out) < 120 * 2**20
    text = out.read_text()
    assert len(text) < 200_000
    if fmt == "junit":
        xmlschema.XMLSchema(request.getfixturevalue("junit_xsd")).validate(text)
        assert f"[genesis-par: the last 40 lines; the whole log: {log}]\nline 19960\n" in text
        assert "line 19999</system-out>" in text and "line 19959\n" not in text
    if fmt == "html":
        assert re.search(rf"the first [\d,]+ bytes are left out; the whole log: {log}", text)
        assert "line 19999\n" in text and "line 0\n" not in text


def _show_json(repo: Path) -> str:
    """{task: its last log} of the run rep, as JSON."""
    from genesis_par.commands.common import state_dir
    from genesis_par.state.store import Store

    _, state = state_dir(repo)
    with Store.open(state) as store:
        return json.dumps({t.id: str(t.log) if t.log else None for t in store.tasks("rep")})


def test_a_log_replaced_by_a_fifo_does_not_hang_the_report(
    finished_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = Path(json.loads(_show_json(finished_run))["bad"])
    log.unlink()
    os.mkfifo(log)  # an agent can do this to its own log; nobody will ever write to it
    assert report_cmd.run(finished_run, "rep", fmt="html") == 0
    assert "<h2>Logs</h2>" in capsys.readouterr().out


def test_the_live_view_and_logs_never_block_on_a_log_replaced_by_a_fifo(
    finished_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from genesis_par.commands import status as status_cmd
    from genesis_par.report import run_view

    log = Path(json.loads(_show_json(finished_run))["bad"])
    log.unlink()
    os.mkfifo(log)  # nobody will ever write to it
    assert run_view.last_line(log) == ""
    assert status_cmd.logs(finished_run, "rep", "bad") == 0


def test_logs_streams_a_huge_log(finished_run: Path) -> None:
    log = Path(json.loads(_show_json(finished_run))["bad"])
    with log.open("ab") as handle:
        handle.truncate(200 * 2**20)  # sparse: no disk
        handle.write(b"the end\n")
    peak = finished_run.parent / "logs.peak"
    with subprocess.Popen(
        with_peak_memory([*genesis_cmd(), "logs", "rep", "bad"], peak),
        cwd=finished_run,
        env=genesis_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as child:
        assert child.stdout is not None
        size = 0
        while chunk := child.stdout.read(2**20):
            size, last = size + len(chunk), chunk
    assert child.returncode == 0 and size == log.stat().st_size and last.endswith(b"the end\n")
    assert int(peak.read_text()) < 120 * 2**20


def test_printable_keeps_exactly_the_characters_xml_allows() -> None:
    """XML 1.0's Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF],
    checked over every code point; colour codes go too."""
    every = "".join(map(chr, range(0x110000)))
    allowed = [
        c
        for c in every
        if c in "\t\n\r"
        or "\x20" <= c <= "\ud7ff"
        or "\ue000" <= c <= "\ufffd"
        or "\U00010000" <= c <= "\U0010ffff"
    ]
    assert printable(every.replace("\x1b", "")) == "".join(allowed)
    assert printable("\x1b[31mred\x1b[0m\x07") == "red"
