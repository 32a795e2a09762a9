"""The task DAG: cycles, levels, the critical path, priority-respecting order (pure)."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter

from genesis_par.plan.model import Plan, Task


@dataclass(frozen=True)
class Dag:
    """Tasks and their dependencies both ways (the plan's order kept); the standard library's
    graphlib sorts it (networkx did, at 0.17 s of import on every start of a command)."""

    dependencies: Mapping[str, tuple[str, ...]]  # task -> the tasks it depends on
    dependents: Mapping[str, tuple[str, ...]]  # task -> the tasks that depend on it

    def __iter__(self) -> Iterator[str]:
        return iter(self.dependencies)

    def __len__(self) -> int:
        return len(self.dependencies)

    def sorter(self) -> TopologicalSorter[str]:
        """A fresh graphlib sorter over the tasks."""
        return TopologicalSorter(self.dependencies)


def build(tasks: Iterable[Task]) -> Dag:
    """The tasks' graph; dependencies outside tasks are left out."""
    tasks = list(tasks)
    ids = {t.id for t in tasks}
    dependencies = {t.id: tuple(d for d in t.depends_on if d in ids) for t in tasks}
    dependents: dict[str, list[str]] = {t.id: [] for t in tasks}
    for task_id, deps in dependencies.items():
        for dep in deps:
            dependents[dep].append(task_id)
    return Dag(dependencies, {t: tuple(d) for t, d in dependents.items()})


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A dependency cycle as `[a, b, a]` (a depends on b depends on a), or None; it starts at
    the first of its tasks in edges' order."""
    try:
        TopologicalSorter({node: list(deps) for node, deps in edges.items()}).prepare()
    except CycleError as e:
        found: list[str] = e.args[1]  # each node a dependency of the next
        loop = found[:-1][::-1]
        rank = {node: i for i, node in enumerate(edges)}
        first = min(range(len(loop)), key=lambda i: rank.get(loop[i], len(rank)))
        loop = loop[first:] + loop[:first]
        return [*loop, loop[0]]
    return None


def path_text(path: list[str], keep: int = 6) -> str:
    """`a -> b -> c` for a person: a long path keeps its ends and says how much it left out."""
    if len(path) <= 2 * keep + 1:
        return " -> ".join(path)
    hidden = len(path) - 2 * keep
    return " -> ".join([*path[:keep], f"({hidden:,} more)", *path[-keep:]])


def levels(dag: Dag, order: Mapping[str, int] | None = None) -> list[list[str]]:
    """Generations: tasks with no dependencies first, each level after all it depends on."""
    key = (lambda t: (order[t], t)) if order else None
    sorter = dag.sorter()
    sorter.prepare()
    generations = []
    while sorter.is_active():
        generation = sorter.get_ready()
        sorter.done(*generation)
        generations.append(sorted(generation, key=key))
    return generations


def remaining(dag: Dag, cost: Mapping[str, float]) -> dict[str, float]:
    """For each task, the costliest path from it to the end of the graph, itself included."""
    longest: dict[str, float] = {}
    for node in reversed(list(dag.sorter().static_order())):
        tail = max((longest[s] for s in dag.dependents[node]), default=0.0)
        longest[node] = cost[node] + tail
    return longest


def critical_path(dag: Dag, cost: Mapping[str, float]) -> list[str]:
    """The costliest chain of dependencies; ties go to the task that comes first by name."""
    if not dag:
        return []
    longest = remaining(dag, cost)
    node = min((n for n in dag if not dag.dependencies[n]), key=lambda n: (-longest[n], n))
    path = [node]
    while succ := dag.dependents[node]:
        node = min(succ, key=lambda n: (-longest[n], n))
        path.append(node)
    return path


def plan_costs(plan: Plan) -> dict[str, float]:
    """Task id -> cost."""
    return {t.id: t.cost for t in plan.tasks}


def priority_order(plan: Plan) -> list[str]:
    """A topological order that takes, among ready tasks, the highest priority, then plan order."""
    return ordered(plan.tasks, lambda t: (-t.priority, t.index))


def ordered(tasks: Sequence[Task], key: Callable[[Task], tuple[float, ...]]) -> list[str]:
    """A topological order of tasks that takes, among the ready ones, the smallest key first."""
    dag = build(tasks)
    by_id = {t.id: t for t in tasks}
    waiting = {task_id: len(deps) for task_id, deps in dag.dependencies.items()}
    heap = [(key(by_id[t]), t) for t, n in waiting.items() if n == 0]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        _, node = heapq.heappop(heap)
        order.append(node)
        for succ in dag.dependents[node]:
            waiting[succ] -= 1
            if waiting[succ] == 0:
                heapq.heappush(heap, (key(by_id[succ]), succ))
    return order
