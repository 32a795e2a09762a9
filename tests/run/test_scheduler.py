from __future__ import annotations

from genesis_par.model import TaskStatus
from genesis_par.plan.model import Command, Priority, Strategy, Task
from genesis_par.run.scheduler import Schedule, scopes_overlap, to_skip

CMD = Command(("true",))
GIB = 2**30


def t(tid: str, index: int, *deps: str, **kw: object) -> Task:
    return Task(tid, CMD, index=index, depends_on=deps, **kw)  # type: ignore[arg-type]


def decide(
    tasks: list[Task],
    strategy: Strategy = Strategy.FIFO,
    max_parallel: int = 10,
    succeeded: set[str] | None = None,
    running: set[str] | None = None,
    memory: int | None = None,
) -> tuple[list[str], dict[str, str]]:
    s = Schedule.from_tasks(tasks, strategy)
    done = succeeded or set()
    d = s.decide(
        max_parallel,
        succeeded=done,
        running=running or set(),
        finished=done,
        available_memory=memory,
    )
    return d.start, d.waiting


def test_each_strategy_orders_ready_tasks() -> None:
    tasks = [
        t("cheap-low", 0, cost=1, priority=Priority.LOW),
        t("dear", 1, cost=5),
        t("high", 2, cost=2, priority=Priority.HIGH),
        t("after-cheap", 3, "cheap-low", cost=10),
    ]
    assert decide(tasks, Strategy.FIFO)[0] == ["cheap-low", "dear", "high"]
    assert decide(tasks, Strategy.PRIORITY)[0] == ["high", "dear", "cheap-low"]
    assert decide(tasks, Strategy.COST)[0] == ["cheap-low", "high", "dear"]
    # critical path: cheap-low leads a chain of 11, dear alone is 5, high 2
    assert decide(tasks, Strategy.CRITICAL_PATH)[0] == ["cheap-low", "dear", "high"]


def test_dependencies_gate_readiness() -> None:
    tasks = [t("a", 0), t("b", 1, "a")]
    assert decide(tasks)[0] == ["a"]
    assert decide(tasks, succeeded={"a"})[0] == ["b"]


def test_max_parallel_counts_running_and_newly_started() -> None:
    tasks = [t(f"t{i}", i) for i in range(5)]
    start, waiting = decide(tasks, max_parallel=3, running={"t0"})
    assert start == ["t1", "t2"]
    assert waiting == {"t3": "max_parallel (3) reached", "t4": "max_parallel (3) reached"}


def test_a_committing_task_holds_no_slot_or_lock_and_is_not_started_again() -> None:
    tasks = [t("a", 0, locks=("db",)), t("b", 1, locks=("db",)), t("c", 2)]
    s = Schedule.from_tasks(tasks, Strategy.FIFO)
    held = s.decide(1, succeeded=set(), running={"a"}, finished=set())
    assert held.start == [] and held.waiting["b"] == "max_parallel (1) reached"
    freed = s.decide(1, succeeded=set(), running={"a"}, finished=set(), committing={"a"})
    assert freed.start == ["b"]
    assert freed.waiting == {"c": "max_parallel (1) reached"}


def test_a_lock_is_held_by_one_task_at_a_time() -> None:
    tasks = [t("a", 0, locks=("db",)), t("b", 1, locks=("db",)), t("c", 2, locks=("other",))]
    start, waiting = decide(tasks)
    assert start == ["a", "c"]
    assert waiting == {"b": "waiting for lock db (held by a)"}
    assert decide(tasks, running={"a"})[0] == ["c"]


def test_overlapping_write_scopes_never_run_together() -> None:
    tasks = [
        t("api", 0, paths=("src/api/**",)),
        t("one", 1, paths=("src/api/x.py",)),
        t("web", 2, paths=("src/web/**",)),
        t("free", 3),
    ]
    start, waiting = decide(tasks)
    assert start == ["api", "web", "free"]
    assert waiting == {"one": "write scope overlaps api"}


def test_scopes_overlap_conservatively() -> None:
    assert scopes_overlap(["src/api/**"], ["src/api/x.py"])
    assert scopes_overlap(["**"], ["anything"])
    assert scopes_overlap(["src/*.py"], ["src/api/x.py"])
    assert not scopes_overlap(["src/api/**"], ["src/web/**"])
    assert not scopes_overlap(["docs/a.md"], ["docs/b.md"])


def test_memory_admission_waits_while_limits_do_not_fit() -> None:
    tasks = [t("big", 0, memory_bytes=4 * GIB), t("big2", 1, memory_bytes=4 * GIB), t("small", 2)]
    start, waiting = decide(tasks, memory=6 * GIB)
    assert start == ["big", "small"]
    assert waiting["big2"].startswith("waiting for memory (needs 8.0 GiB, 6.0 GiB free)")
    # alone it may always start, so a run never deadlocks on a small machine
    assert decide([t("huge", 0, memory_bytes=64 * GIB)], memory=GIB)[0] == ["huge"]


def test_to_skip_is_transitive_and_names_the_cause() -> None:
    tasks = [t("a", 0), t("b", 1, "a"), t("c", 2, "b"), t("d", 3), t("e", 4, "d", "a")]
    skips = to_skip(tasks, {"a": TaskStatus.FAILED, "d": TaskStatus.SUCCEEDED})
    assert skips == {
        "b": 'dependency "a" failed',
        "c": 'dependency "b" was skipped',
        "e": 'dependency "a" failed',
    }
    assert to_skip(tasks, {"a": TaskStatus.CANCELLED})["b"] == 'dependency "a" was cancelled'


def test_decide_is_cheap_on_a_big_plan() -> None:
    tasks = [t(f"t{i}", i, *([f"t{i - 1}"] if i % 10 else [])) for i in range(2000)]
    s = Schedule.from_tasks(tasks, Strategy.CRITICAL_PATH)
    d = s.decide(4, succeeded=set(), running=set(), finished=set())
    assert d.start == ["t0", "t10", "t20", "t30"] and len(d.waiting) == 196


def test_a_task_waiting_on_its_dependencies_says_which() -> None:
    tasks = [t("api", 0), t("db", 1), t("docs", 2, "api", "db"), t("free", 3)]
    s = Schedule.from_tasks(tasks, Strategy.FIFO)
    d = s.decide(1, succeeded={"db"}, running={"api"}, finished={"db"})
    assert d.start == [] and d.waiting == {"free": "max_parallel (1) reached"}
    assert d.blocked == {"docs": "waits for api"}
    d = s.decide(4, succeeded=set(), running=set(), finished=set())
    assert d.blocked == {"docs": "waits for api, db"}
