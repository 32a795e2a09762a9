"""The batched merge queue (issue 16): check many tasks at once, bisect to the culprits, and
check the queue's next prefixes speculatively while one is checked.

The queue is a list of segments in queue order. A segment is either unknown (check it) or
known to fail on the target's tip (bisect it). Each round checks prefixes of the front
segment on the tip, up to `parallel_checks` at once: for an unknown segment the batch
boundaries (the next batches built on top of the first, as GitHub's merge queue builds the
queue's prefixes), for a failing one evenly spaced cuts. The longest passing prefix is
published with one compare-and-swap; the shortest failing one after it is the next failing
segment. A culprit is convicted only by a failed check of the tip plus it alone, so with a
deterministic check the same tasks land as in the one-by-one queue, on the same trees.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from genesis_par import gitops
from genesis_par.land import checks, queue, target_moves
from genesis_par.land.checks import CheckRun
from genesis_par.land.conflicts import MergeResult
from genesis_par.land.parallel_checks import Prefix, check_at_once
from genesis_par.land.queue import Candidate, QueueResult, QueueSpec, Unmerged
from genesis_par.state.landings import BatchOutcome
from genesis_par.worktrees.allocate import merge_worktree

Progress = Callable[[str, Mapping[str, object]], None]


@dataclass
class BatchRecord:
    """A batch: its members and every check that involved them."""

    n: int
    members: list[str]
    checks: list[CheckRun] = field(default_factory=list)
    started: float | None = None
    ended: float | None = None

    def outcome(self, merged: Sequence[str]) -> BatchOutcome:
        """What the store keeps of it (docs/json.md: merge.batches[])."""
        landed = tuple(m for m in self.members if m in merged)
        outcome = (
            "published"
            if len(landed) == len(self.members)
            else "partly published"
            if landed
            else "not published"
        )
        took = (self.ended or 0.0) - (self.started or 0.0)
        runs = sum(c.runs for c in self.checks)
        checks = tuple(c.record() for c in self.checks)
        return BatchOutcome(
            self.n, tuple(self.members), outcome, landed, runs, round(took, 3), checks
        )


class _Segment(NamedTuple):
    items: tuple[Candidate, ...]
    fail: CheckRun | None  # a failed check of the tip plus all of items; None: unknown
    built: tuple[str, ...] = ()  # the prefix commits, when built on `built_on`
    built_on: str | None = None


def land(
    spec: QueueSpec,
    queue: Sequence[Candidate],
    result: QueueResult,
    touched: Callable[[str], set[str]],
    now: Callable[[], float] = time.monotonic,
) -> str:
    """Land what passes of queue (in queue order) on the target; the new tip."""
    lander = _Batches(spec, result, touched, now)
    return lander.land(queue)


class _Batches:
    def __init__(
        self,
        spec: QueueSpec,
        result: QueueResult,
        touched: Callable[[str], set[str]],
        now: Callable[[], float],
    ) -> None:
        assert spec.check is not None and spec.check_worktree is not None
        assert spec.log_dir is not None
        self.spec, self.result, self.touched, self.now = spec, result, touched, now
        self.settings = spec.batching
        self.tip = result.before
        self.trees = target_moves.Trees()
        self.blocked = target_moves.in_the_way(spec)
        self.batch_of: dict[str, int] = {}
        self.records: list[BatchRecord] = []
        self.moves = 0
        self.check = checks.CheckSpec(
            spec.check,
            spec.run,
            spec.into_ref,
            spec.start,
            spec.log_dir,
            spec.env,
            spec.check_timeout_s,
            self.settings.check_retries,
        )
        self.names = checks.LogNames(spec.log_dir)
        self.slots = [spec.check_worktree]

    def emit(self, kind: str, **data: object) -> None:
        if self.spec.progress is not None:
            self.spec.progress(kind, data)

    def land(self, queue: Sequence[Candidate]) -> str:
        pending: deque[_Segment] = deque([_Segment(tuple(queue), None)])
        try:
            while pending:
                if self.spec.cancel.is_set():  # interrupted: what is left waits for `resume`
                    self._interrupted(pending)
                    break
                self._step(pending.popleft(), pending)
        finally:
            self.result.batches = [b.outcome(self.result.merged) for b in self.records]
        return self.tip

    def _interrupted(self, pending: deque[_Segment]) -> None:
        landed = set(self.result.merged) | {u.task for u in self.result.unmerged}
        for seg in pending:
            for c in seg.items:
                if c.task.id not in landed:
                    self.result.unmerged.append(Unmerged(c.task.id, "interrupted"))

    # --- one round ---

    def _step(self, seg: _Segment, pending: deque[_Segment]) -> None:
        items = self._admissible(seg.items)
        if not items:
            return
        same = len(items) == len(seg.items)
        fail = seg.fail if same else None
        built = seg.built if same and seg.built_on == self.tip else self._build(items)
        if not built:  # the first does not merge onto the tip (said why in result.unmerged)
            pending.appendleft(_Segment(items[1:], None))
            return
        if len(built) < len(items):  # a batch never mixes a task with one it conflicts with
            pending.appendleft(_Segment(items[len(built) :], None))
            items, fail = items[: len(built)], None
        if built[-1] == self.tip:  # all already there (a resumed queue): nothing to check
            self.result.merged.extend(c.task.id for c in items)
            return
        if fail is not None and len(items) == 1 and fail.commit == built[0]:
            self._convict(items[0], fail)
            return
        cuts = self._cuts(items, fail)
        runs = self._round(items, built, cuts, bisecting=fail is not None)
        passed = max((c for c, r in runs.items() if r.passed), default=0)
        failed = min((c for c, r in runs.items() if c > passed and r.passed is False), default=None)
        if passed and not self._publish(items[:passed], built[passed - 1], runs[passed]):
            self._target_moved(items, pending)
            return
        rest = _Segment(items[passed:], None, built[passed:], self.tip)
        if failed is None:  # past the cuts: unchecked, or known to fail when the whole failed
            if rest.items:
                pending.appendleft(rest._replace(fail=fail))
            return
        after = failed - passed
        pending.appendleft(_Segment(rest.items[after:], None))  # built on suspects: rebuild
        pending.appendleft(_Segment(rest.items[:after], runs[failed], rest.built[:after], self.tip))

    def _admissible(self, items: Sequence[Candidate]) -> tuple[Candidate, ...]:
        """Items that may still land: not blocked, no dependency left unmerged."""
        keep = []
        for c in items:
            out = {u.task for u in self.result.unmerged}
            left_out = [d for d in c.task.depends_on if d in out]
            if self.blocked:
                self.result.unmerged.append(Unmerged(c.task.id, self.blocked))
            elif left_out:  # its branch holds that work too: merging it would land it anyway
                why = f"dependency {left_out[0]} not merged"
                self.result.unmerged.append(Unmerged(c.task.id, why))
                self.emit("left-out", task=c.task.id, reason=why)
            else:
                keep.append(c)
        return tuple(keep)

    def _build(self, items: Sequence[Candidate]) -> tuple[str, ...]:
        """The commits landing items one on another on the tip, as far as they merge."""
        tip, built, trees = self.tip, [], self.trees
        for i, c in enumerate(items):
            probe = target_moves.probe(self.spec, tip, c, {}, trees)
            if target_moves.already_there(self.spec, tip, probe, {}, trees):
                built.append(tip)  # already there (a resumed run): nothing to add
                continue
            new = None
            if probe.clean:
                new = target_moves.combine(self.spec, tip, c, probe.tree, trees)
            if new is None:
                if i == 0:
                    self._unmergeable(c, probe)
                break
            built.append(new)
            tip = new
        return tuple(built)

    def _unmergeable(self, c: Candidate, probe: MergeResult) -> None:
        if probe.clean:
            unmerged = Unmerged(c.task.id, "rebase conflict")
        else:
            named = target_moves.conflicts_with(probe, c, self.result.merged, self.touched)
            unmerged = Unmerged(c.task.id, "conflicts", named)
        self.result.unmerged.append(unmerged)
        self.emit("left-out", task=c.task.id, reason=unmerged.reason)

    def _cuts(self, items: Sequence[Candidate], fail: CheckRun | None) -> list[int]:
        """Which prefixes of items to check this round (their lengths, ascending)."""
        k, n = self.settings.parallel_checks, len(items)
        if fail is not None:  # bisect: k cuts split the failing segment evenly
            if n == 1:
                return [1]
            parts = min(k, n - 1) + 1
            return sorted({max(1, min(n - 1, round(n * i / parts))) for i in range(1, parts)})
        self._form_batches(items)
        ends = [
            i + 1
            for i in range(n)
            if i == n - 1 or self._batch(items[i]) != self._batch(items[i + 1])
        ]
        cuts = ends[:k]
        if len(cuts) < k and cuts[0] > 1:  # spare checks: the first batch's halves, ahead of need
            spare = min(k - len(cuts), cuts[0] - 1)
            cuts += [round(cuts[0] * i / (spare + 1)) for i in range(1, spare + 1)]
        return sorted(set(cuts))

    def _batch(self, c: Candidate) -> int:
        return self.batch_of[c.task.id]

    def _form_batches(self, items: Sequence[Candidate]) -> None:
        """Give batch numbers to the tasks that have none yet, in groups of the batch size."""
        new = [c.task.id for c in items if c.task.id not in self.batch_of]
        size = self.settings.size(len(new))
        for start in range(0, len(new), size):
            members = new[start : start + size]
            record = BatchRecord(len(self.records) + 1, members)
            self.records.append(record)
            self.batch_of.update((m, record.n) for m in members)
            self.emit("batch", batch=record.n, members=members)

    def _round(
        self, items: Sequence[Candidate], built: Sequence[str], cuts: Sequence[int], bisecting: bool
    ) -> dict[int, CheckRun]:
        """Check the prefixes at cuts at once; a failure throws the longer ones away, a pass
        the shorter ones."""
        if bisecting:
            suspects = [c.task.id for c in items]
            self.emit("bisect", suspects=suspects, checking=[suspects[:c] for c in cuts])
        self._ensure_slots(len(cuts))
        on_top_of = tuple(self.result.merged)
        prefixes = [Prefix(cut, built[cut - 1], [c.task.id for c in items[:cut]]) for cut in cuts]

        def check(slot: int, prefix: Prefix, cancel: threading.Event) -> CheckRun:
            return checks.run_check(
                self.check,
                self.slots[slot],
                prefix.commit,
                prefix.members,
                on_top_of,
                self.names,
                cancel,
                slot,
            )

        def started(slot: int, prefix: Prefix) -> None:
            self._started(prefix.members, on_top_of, speculative=slot > 0)

        return check_at_once(prefixes, check, self.spec.cancel, started, self._finished)

    def _ensure_slots(self, count: int) -> None:
        """A check worktree per parallel check (the queue's own first)."""
        while len(self.slots) < count:
            n = len(self.slots) + 1
            self.slots.append(merge_worktree(self.spec.repo, self.spec.run, self.tip, n))

    def _started(self, members: Sequence[str], on_top_of: Sequence[str], speculative: bool) -> None:
        record = self.records[self.batch_of[members[-1]] - 1]
        record.started = record.started or self.now()
        self.emit(
            "check-started",
            batch=record.n,
            members=list(members),
            on_top_of=list(on_top_of),
            speculative=speculative,
        )

    def _finished(self, run: CheckRun) -> None:
        record = self.records[self.batch_of[run.members[-1]] - 1]
        record.checks.append(run)
        record.ended = self.now()
        outcome = {True: "passed", False: "failed", None: "cancelled"}[run.passed]
        self.emit(
            "check-finished",
            batch=record.n,
            members=list(run.members),
            outcome=outcome,
            runs=run.runs,
            duration_s=round(run.duration_s, 3),
            log=str(run.logs[-1]) if run.logs else None,
        )

    # --- outcomes ---

    def _publish(self, items: Sequence[Candidate], commit: str, proof: CheckRun) -> bool:
        """Move the target from the tip to commit (one compare-and-swap); False if it moved."""
        ids = [c.task.id for c in items]
        if not target_moves.publish(self.spec, commit, self.tip, ",".join(ids)):
            return False
        checks.point(self.check.log_dir, ids, proof)
        self.result.merged.extend(ids)
        self.result.steps.append((self.tip, commit))
        self.emit("published", members=ids, commit=commit, into=self.spec.into_ref)
        self.tip = commit
        return True

    def _target_moved(self, items: Sequence[Candidate], pending: deque[_Segment]) -> None:
        """Someone moved the target: never force it; rebuild everything left on its new tip."""
        moved_to = gitops.resolve_commit(self.spec.repo.root, self.spec.into_ref) or self.tip
        self.blocked = target_moves.in_the_way(self.spec) if moved_to == self.tip else None
        left = [*items, *(c for seg in pending for c in seg.items)]
        pending.clear()
        self.moves += 1
        if self.moves > queue.MAX_RETRIES_ON_MOVED_TARGET:
            self.result.unmerged += [Unmerged(c.task.id, "the target kept moving") for c in left]
            return
        self.emit("target-moved", tip=moved_to)
        self.tip = moved_to
        pending.append(_Segment(tuple(left), None))

    def _convict(self, c: Candidate, fail: CheckRun) -> None:
        log = checks.task_log(self.check.log_dir, c.task.id)
        checks.point(self.check.log_dir, [c.task.id], fail)
        # fail checked the tip plus c alone: all merged so far (in fail's members too) is under
        under = tuple(self.result.merged)
        why = Unmerged(c.task.id, queue.CHECK_FAILED, log=log, on_top_of=under)
        self.result.unmerged.append(why)
        self.emit("convicted", task=c.task.id, on_top_of=list(under), log=str(log))
