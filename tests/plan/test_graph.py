from __future__ import annotations

from pathlib import Path

from genesis_par.plan import graph
from genesis_par.plan.model import Command, Priority, Task
from genesis_par.plan.parse import load

CMD = Command(("true",))


def task(
    tid: str, *deps: str, cost: float = 1.0, priority: Priority = Priority.NORMAL, index: int = 0
) -> Task:
    return Task(tid, CMD, index=index, depends_on=deps, cost=cost, priority=priority)


def test_levels_follow_dependencies() -> None:
    dag = graph.build([task("a"), task("b"), task("c", "a"), task("d", "c", "b")])
    assert graph.levels(dag) == [["a", "b"], ["c"], ["d"]]


def test_critical_path_is_weighted_by_cost() -> None:
    tasks = [
        task("a", cost=1),
        task("b", cost=10),
        task("c", "a", cost=1),
        task("d", "b", "c", cost=1),
    ]
    dag = graph.build(tasks)
    costs = {t.id: t.cost for t in tasks}
    assert graph.critical_path(dag, costs) == ["b", "d"]
    assert graph.remaining(dag, costs) == {"a": 3, "b": 11, "c": 2, "d": 1}


def test_find_cycle_reports_the_loop() -> None:
    assert graph.find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert graph.find_cycle({"a": [], "b": ["a"]}) is None


def test_ordered_takes_the_best_ready_task_first() -> None:
    tasks = [
        task("low", priority=Priority.LOW, index=0),
        task("high", priority=Priority.HIGH, index=1),
        task("after-low", "low", priority=Priority.CRITICAL, index=2),
        task("normal", index=3),
    ]
    order = graph.ordered(tasks, lambda t: (-t.priority, t.index))
    assert order == ["high", "normal", "low", "after-low"]


def test_ordered_ignores_dependencies_outside_the_subset() -> None:
    assert graph.ordered([task("b", "a")], lambda t: (t.index,)) == ["b"]


def test_priority_order_of_a_plan(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        'version = 1\n[[tasks]]\nid = "a"\ncommand = "x"\npriority = "low"\n'
        '[[tasks]]\nid = "b"\ncommand = "x"\npriority = "critical"\ndepends_on = ["a"]\n'
        '[[tasks]]\nid = "c"\ncommand = "x"\n'
    )
    assert graph.priority_order(load(path)) == ["c", "a", "b"]


def test_a_long_cycle_is_found_fast_and_shown_short() -> None:
    ring = {f"t{i}": [f"t{(i + 1) % 3000}"] for i in range(3000)}
    cycle = graph.find_cycle(ring)
    assert cycle is not None and len(cycle) == 3001 and cycle[0] == cycle[-1] == "t0"
    assert graph.find_cycle({f"t{i}": [f"t{i - 1}"] if i else [] for i in range(3000)}) is None
    text = graph.path_text(cycle)
    assert text.startswith("t0 -> t1 -> ") and text.endswith("t2999 -> t0")
    assert "(2,989 more)" in text
