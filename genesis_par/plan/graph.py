"""The task DAG: cycles, levels, the critical path, priority-respecting order (pure)."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence

import networkx as nx

from genesis_par.plan.model import Plan, Task


def build(tasks: Iterable[Task]) -> nx.DiGraph[str]:
    """Edges run from a dependency to its dependent; node data holds the task."""
    dag: nx.DiGraph[str] = nx.DiGraph()
    for task in tasks:
        dag.add_node(task.id, task=task)
    for task in tasks:
        for dep in task.depends_on:
            dag.add_edge(dep, task.id)
    return dag


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A dependency cycle as `[a, b, a]` (a depends on b depends on a), or None."""
    dag: nx.DiGraph[str] = nx.DiGraph()
    for node, deps in edges.items():
        dag.add_node(node)
        dag.add_edges_from((node, dep) for dep in deps)
    if nx.is_directed_acyclic_graph(dag):  # linear; nx.find_cycle alone is quadratic on chains
        return None
    looped = next(
        c
        for c in nx.strongly_connected_components(dag)
        if len(c) > 1 or any(dag.has_edge(n, n) for n in c)
    )
    start = next(node for node in edges if node in looped)
    cycle = nx.find_cycle(dag.subgraph(looped), source=start)
    return [edge[0] for edge in cycle] + [cycle[0][0]]


def path_text(path: list[str], keep: int = 6) -> str:
    """`a -> b -> c` for a person: a long path keeps its ends and says how much it left out."""
    if len(path) <= 2 * keep + 1:
        return " -> ".join(path)
    hidden = len(path) - 2 * keep
    return " -> ".join([*path[:keep], f"({hidden:,} more)", *path[-keep:]])


def levels(dag: nx.DiGraph[str], order: Mapping[str, int] | None = None) -> list[list[str]]:
    """Generations: tasks with no dependencies first, each level after all it depends on."""
    key = (lambda t: (order[t], t)) if order else None
    return [sorted(generation, key=key) for generation in nx.topological_generations(dag)]


def remaining(dag: nx.DiGraph[str], cost: Mapping[str, float]) -> dict[str, float]:
    """For each task, the costliest path from it to the end of the graph, itself included."""
    longest: dict[str, float] = {}
    for node in reversed(list(nx.topological_sort(dag))):
        tail = max((longest[s] for s in dag.successors(node)), default=0.0)
        longest[node] = cost[node] + tail
    return longest


def critical_path(dag: nx.DiGraph[str], cost: Mapping[str, float]) -> list[str]:
    """The costliest chain of dependencies; ties go to the task that comes first by name."""
    if not dag:
        return []
    longest = remaining(dag, cost)
    node = min((n for n in dag if dag.in_degree(n) == 0), key=lambda n: (-longest[n], n))
    path = [node]
    while succ := list(dag.successors(node)):
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
    ids = {t.id for t in tasks}
    dag = build(tasks)
    by_id = {t.id: t for t in tasks}
    waiting = {t.id: sum(d in ids for d in t.depends_on) for t in tasks}
    heap = [(key(by_id[t]), t) for t, n in waiting.items() if n == 0]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        _, node = heapq.heappop(heap)
        order.append(node)
        for succ in dag.successors(node):
            if succ not in waiting:
                continue
            waiting[succ] -= 1
            if waiting[succ] == 0:
                heapq.heappush(heap, (key(by_id[succ]), succ))
    return order
