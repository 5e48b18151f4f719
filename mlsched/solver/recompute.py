"""Recomputation: an op in two subgraphs (SPEC §2, §4 rule 6).

In the strict profile a tensor is kept in fast memory for one step only,
so a tensor read by subgraphs further apart is written to slow memory and
loaded by each reader. Recomputing its producer in every reading
subgraph instead makes the tensor ephemeral there: no store, no load and
no working set for it, at the price of the producer's compute and input
loads once more. Rule 6 allows it exactly when every reader outside a
subgraph shares some subgraph with the producer.

The column model covers each op once, so recomputation is a pass over a
finished schedule: for each tensor with readers in several subgraphs it
tries the producer in every reading subgraph (with and without its
other copies), and the producer in one more reading subgraph, re-chooses
the granularity of every changed subgraph, and keeps a move only when
the exact evaluation of the whole schedule is valid and lower.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from mlsched import clock
from mlsched.heuristics import DependencyAnalyzer, GranularityOptimizer
from mlsched.model import (
    Problem,
    Solution,
    SubgraphView,
    evaluate,
    view_cost,
)
from mlsched.model.schedule import Step, to_solution
from mlsched.model.types import Rules

logger = logging.getLogger(__name__)

# A move is kept only if it lowers the latency by more than this share
# (ties differ by floating-point noise).
GAIN = 1e-9


@dataclass(frozen=True)
class Recomputed:
    """A schedule with recomputed ops, exactly evaluated.

    Attributes
    ----------
    steps
        The schedule; an op may appear in several steps.
    solution
        Its contest solution, with exact latencies.
    objective
        Its total latency, from :func:`mlsched.evaluate`.
    """

    steps: tuple[Step, ...]
    solution: Solution
    objective: float


@dataclass(frozen=True)
class _Move:
    """Candidate steps and the indices of the steps it changed."""

    steps: list[Step]
    changed: tuple[int, ...]


class Recomputer:
    """Improves a schedule by recomputing producers of shared tensors.

    Parameters
    ----------
    problem
        The problem.
    rules
        ``"strict"`` or ``"contest"``: every kept schedule is valid in it.
    optimizer
        Chooses the granularity of every changed subgraph.
    """

    def __init__(
        self,
        problem: Problem,
        rules: Rules,
        optimizer: GranularityOptimizer,
    ) -> None:
        self.problem = problem
        self.rules = rules
        self.optimizer = optimizer
        self.deps = DependencyAnalyzer(problem)
        self._memo: dict[tuple[Step, tuple[int, ...]], float] = {}
        # The longest whole evaluation so far, in clock seconds.
        self._evaluation = 0.0
        self.shared = [
            t
            for t in sorted(problem.producer)
            if len(problem.consumers[t]) > 1
        ]

    def improve(
        self,
        steps: Sequence[Step],
        objective: float,
        deadline: float = 1e18,
    ) -> Recomputed | None:
        """The best schedule found from ``steps`` (of latency
        ``objective``), or None when no move improves.

        The shared tensors are visited in turn, each taking the first of
        its moves that improves, until a whole round of them finds
        nothing or ``deadline`` (a :func:`mlsched.clock.now` instant)
        passes.
        """
        best: Recomputed | None = None
        current = list(steps)
        turn = stale = 0
        while stale < len(self.shared) and clock.now() < deadline:
            t = self.shared[turn % len(self.shared)]
            turn += 1
            found = self._first(current, t, objective, deadline)
            if found is None:
                stale += 1
                continue
            logger.info(
                "recomputation: %.1f -> %.1f", objective, found.objective
            )
            best, objective, stale = found, found.objective, 0
            current = list(found.steps)
        return best

    def _first(
        self, steps: list[Step], t: int, objective: float, deadline: float
    ) -> Recomputed | None:
        """The first move on tensor ``t`` that lowers ``objective``."""
        for move in self._moves(steps, t):
            # A move may end in a whole evaluation: start none that could
            # run past the deadline.
            if clock.now() + self._evaluation >= deadline:
                return None
            found = self._try(move, objective)
            if found is not None:
                return found
        return None

    def _try(self, move: _Move, objective: float) -> Recomputed | None:
        """The move's schedule with re-chosen granularities, if it is
        valid and below ``objective``.

        The sum of the steps' latencies (each a function of its ops,
        granularity, traversal and retained sets) screens the move; only
        a lower sum is evaluated exactly, whole.
        """
        steps = list(move.steps)
        for i in sorted(set(move.changed)):
            before = steps[i - 1].retain if i > 0 else ()
            s = steps[i]
            choice = self.optimizer.best(s.ops, before, s.retain)
            if choice is None:
                return None
            steps[i] = Step(s.ops, choice.grain, choice.traversal, s.retain)
        if sum(self._latencies(steps)) >= objective * (1 - GAIN):
            return None
        began = clock.now()
        solution = to_solution(self.problem, steps)
        ev = evaluate(self.problem, solution, self.rules)
        self._evaluation = max(self._evaluation, clock.now() - began)
        if not ev.valid or ev.total_latency >= objective * (1 - GAIN):
            return None
        return Recomputed(tuple(steps), solution, ev.total_latency)

    def _latencies(self, steps: Sequence[Step]) -> list[float]:
        """Every step's latency, each distinct step in its context
        costed once."""
        out = []
        for i, s in enumerate(steps):
            before = steps[i - 1].retain if i > 0 else ()
            key = (s, before)
            if key not in self._memo:
                view = SubgraphView(self.problem, s.ops, s.retain, before)
                self._memo[key] = view_cost(view, s.grain, s.traversal).latency
            out.append(self._memo[key])
        return out

    def _moves(self, steps: list[Step], t: int) -> Iterator[_Move]:
        """Every recomputation move on ``steps`` for the shared tensor
        ``t``: steps holding its producer split by reader, the producer
        added to every step that reads ``t`` (with and without its other
        copies), and to each such step alone."""
        src = self.problem.producer[t]
        readers = set(self.problem.consumers[t])
        at = [
            j
            for j, s in enumerate(steps)
            if readers.intersection(s.ops) and src not in s.ops
        ]
        for j, s in enumerate(steps):
            if src in s.ops:
                yield from self._splits(steps, j, src, t)
        if not at:
            return
        added = self._with(steps, src, t, at)
        yield added
        dropped = self._without(added.steps, src, set(at))
        if dropped is not None:
            yield dropped
        if len(at) > 1:
            for j in at:
                yield self._with(steps, src, t, [j])

    def _with(
        self, steps: list[Step], src: int, t: int, at: list[int]
    ) -> _Move:
        """``steps`` with op ``src`` added to the steps ``at``, which no
        longer take its output ``t`` retained."""
        out = list(steps)
        changed = list(at)
        for j in at:
            s = out[j]
            ops = self.deps.in_order({*s.ops, src})
            out[j] = Step(ops, s.grain, s.traversal, s.retain)
            if j > 0 and t in out[j - 1].retain:
                g = out[j - 1]
                kept = tuple(x for x in g.retain if x != t)
                out[j - 1] = Step(g.ops, g.grain, g.traversal, kept)
                changed.append(j - 1)
        return _Move(out, tuple(_around(changed, len(out))))

    def _splits(
        self, steps: list[Step], j: int, src: int, t: int
    ) -> Iterator[_Move]:
        """Step ``j`` cut in two, each part with its own copy of ``src``:
        one part a reader of ``t`` with its descendants in the step, the
        other the rest (both orders)."""
        s = steps[j]
        opset = set(s.ops)
        for c in self.problem.consumers[t]:
            if c not in opset:
                continue
            below = self.deps.descendants[c]
            part = {c} | {o for o in opset if below >> o & 1}
            rest = opset - part
            if rest == {src} or not rest:
                continue
            a = self.deps.in_order(rest)
            b = self.deps.in_order(part | {src})
            for first, second in ((a, b), (b, a)):
                out = list(steps)
                out[j : j + 1] = [
                    Step(first, s.grain, s.traversal, ()),
                    Step(second, s.grain, s.traversal, s.retain),
                ]
                yield _Move(out, tuple(_around([j, j + 1], len(out))))

    def _without(
        self, steps: list[Step], src: int, keep: set[int]
    ) -> _Move | None:
        """``steps`` without ``src`` outside the steps ``keep``, emptied
        steps removed; None if ``src`` is nowhere else."""
        out: list[Step] = []
        dirty: list[bool] = []
        outputs = set(self.problem.outputs[src])
        removed = carry = False
        for j, s in enumerate(steps):
            # The step after a removed one has a new P.
            mark, carry = j in keep or carry, False
            if j not in keep and src in s.ops:
                removed = True
                rest = tuple(o for o in s.ops if o != src)
                if not rest:
                    carry = True
                    continue
                retain = tuple(x for x in s.retain if x not in outputs)
                s, mark = Step(rest, s.grain, s.traversal, retain), True
            out.append(s)
            dirty.append(mark)
        if not removed:
            return None
        changed = [i for i, d in enumerate(dirty) if d]
        return _Move(out, tuple(_around(changed, len(out))))


def _around(indices: Sequence[int], n: int) -> list[int]:
    """The indices and their successors (whose retained-in set may have
    changed), within ``0..n-1``."""
    return sorted({j for i in indices for j in (i, i + 1) if j < n})
