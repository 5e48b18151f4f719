"""Recomputation: an op in two subgraphs (SPEC §2, §4 rule 6).

In the strict profile a tensor is kept in fast memory for one step only,
so a tensor read by subgraphs further apart is written to slow memory and
loaded by each reader. Recomputing its producer in every reading
subgraph instead makes the tensor ephemeral there: no store, no load and
no working set for it, at the price of the producer's compute and input
loads once more. Rule 6 allows it exactly when every reader outside a
subgraph shares some subgraph with the producer.

A sink moves an op into the later subgraph that reads its output and
recomputes there the producers of its inputs that stay hidden in the
subgraph it left. The op's input then arrives ephemeral, which can free
the working set that a MatMul's full-depth operand strip needs: in
contest benchmark 12 a MatMul whose left operand is a Pointwise sum of a
skip connection runs at its native tile count beside one recomputed
Pointwise, where alone it had to split k and reload its operands at
every k-step.

In the contest profile a subgraph need not be connected, so two
unlinked subgraphs of the same grid may run as one: where one is
compute-bound and the other memory-bound, each cell then hides the
second's traffic behind the first's compute (contest benchmark 16 pairs
a Pointwise op of 5000 a tile with a MatMul group that reads a graph
input). The column model only grows connected regions.

The column model covers each op once, so recomputation is a pass over a
whole schedule (the driver runs it on its start and again on what the
windows leave): for each tensor with readers in several subgraphs it
tries the producer in every reading subgraph (with and without its
other copies), and the producer in one more reading subgraph; for each
op it tries its sink; in contest, every pair of steps of one grid, one
compute-bound and one memory-bound, merged. It re-chooses the
granularity of every changed subgraph, and keeps a move only when the
exact evaluation of the whole schedule is valid and lower and every
input reaches its reader by the data flow (made earlier in the
subgraph, retained into it, or in slow memory), which the contest
evaluator alone does not check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from mlsched import clock
from mlsched.heuristics import DependencyAnalyzer, GranularityOptimizer
from mlsched.model import (
    Problem,
    Solution,
    SubgraphView,
    evaluate,
    view_cost,
)
from mlsched.model.schedule import (
    Step,
    missing_input,
    to_solution,
)
from mlsched.model.types import Rules, improves

logger = logging.getLogger(__name__)


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


class Costed(NamedTuple):
    """A step costed in its context: its grid (width, height), latency,
    and sums of compute and of transfer time over its cells."""

    grid: tuple[int, int]
    latency: float
    compute: float
    memory: float

    @property
    def compute_bound(self) -> bool:
        """Whether its compute outweighs its traffic."""
        return self.compute >= self.memory

    @property
    def slack(self) -> float:
        """By how much compute and traffic differ: what a partner of
        the other kind could fill."""
        return abs(self.compute - self.memory)


# A family of moves: the moves on a schedule for one tensor or op.
_Moves = Callable[[list[Step], int], Iterator[_Move]]


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
        self._memo: dict[tuple[Step, tuple[int, ...]], Costed] = {}
        self._written: dict[
            tuple[tuple[int, ...], tuple[int, ...]], frozenset[int]
        ] = {}
        # The longest move so far, in clock seconds: building it,
        # re-choosing its granularities and maybe a whole evaluation.
        self._longest = 0.0
        #: Whether the last :meth:`improve` stopped for time (its
        #: deadline passed, or its next move could have run past it)
        #: rather than because a round of every family found nothing.
        self.out_of_time = False
        self.shared = [
            t
            for t in sorted(problem.producer)
            if len(problem.consumers[t]) > 1
        ]
        # What the pass visits in turn: each shared tensor's moves; each
        # op's sink.
        self._shared_moves: list[tuple[_Moves, int]] = [
            (self._moves, t) for t in self.shared
        ]
        self._sink_moves: list[tuple[_Moves, int]] = [
            (self._sinks, o) for o in range(problem.num_ops)
        ]
        # Merges of two steps (contest only): one family of one item, so
        # that the most promising pair of the whole schedule goes first.
        self._merge_moves: list[tuple[_Moves, int]] = (
            [(self._merges, 0)] if rules == "contest" else []
        )

    def improve(
        self,
        steps: Sequence[Step],
        objective: float,
        deadline: float = 1e18,
    ) -> Recomputed | None:
        """The best schedule found from ``steps`` (of latency
        ``objective``), or None when no move improves.

        First the shared tensors' moves, then the sinks, each family
        until a whole round of it finds nothing, and again while either
        finds something or until ``deadline`` (a
        :func:`mlsched.clock.now` instant). Shared tensors go first:
        their moves are fewer and cheaper to try than one sink per op,
        so a short deadline still gets them.
        """
        self.out_of_time = False
        best: Recomputed | None = None
        families = [
            f
            for f in (self._shared_moves, self._sink_moves, self._merge_moves)
            if f
        ]
        # Families in a row that found nothing; a family that found
        # something ended on a round that did not.
        idle = turn = 0
        while idle < len(families) and not self._stopped(deadline):
            found = self._rotate(
                families[turn % len(families)],
                best.steps if best is not None else steps,
                objective,
                deadline,
            )
            turn += 1
            if found is None:
                idle += 1
                continue
            best, objective, idle = found, found.objective, 1
        return best

    def _rotate(
        self,
        items: list[tuple[_Moves, int]],
        steps: Sequence[Step],
        objective: float,
        deadline: float,
    ) -> Recomputed | None:
        """The best schedule from ``steps`` by visiting ``items`` in
        turn, each taking the first of its moves that improves, until a
        whole round finds nothing; None when nothing improves."""
        best: Recomputed | None = None
        current = list(steps)
        turn = stale = 0
        while stale < len(items) and not self._stopped(deadline):
            moves, item = items[turn % len(items)]
            turn += 1
            found = self._first(moves(current, item), objective, deadline)
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
        self, moves: Iterator[_Move], objective: float, deadline: float
    ) -> Recomputed | None:
        """The first of ``moves`` that lowers ``objective``."""
        began = clock.now()
        for move in moves:
            # Start no move that could run past the deadline if it took
            # as long as the longest so far; the granularity searches
            # and the screening count, not only a whole evaluation.
            if self._stopped(deadline - self._longest):
                return None
            found = self._try(move, objective)
            ended = clock.now()
            self._longest = max(self._longest, ended - began)
            began = ended
            if found is not None:
                return found
        return None

    def _stopped(self, instant: float) -> bool:
        """Whether the pass is out of time: it was, or ``instant`` has
        passed (then it is from now on)."""
        if not self.out_of_time and clock.now() >= instant:
            self.out_of_time = True
        return self.out_of_time

    def _try(self, move: _Move, objective: float) -> Recomputed | None:
        """The move's schedule with re-chosen granularities, if it is
        valid and below ``objective``.

        The sum of the steps' latencies (each a function of its ops,
        granularity, traversal and retained sets) screens the move; only
        a lower sum is evaluated exactly, whole.
        """
        steps = list(move.steps)
        self._repair(steps, move.changed)
        for i in sorted(set(move.changed)):
            before = steps[i - 1].retain if i > 0 else ()
            s = steps[i]
            choice = self.optimizer.best(s.ops, before, s.retain)
            if choice is None:
                return None
            steps[i] = Step(s.ops, choice.grain, choice.traversal, s.retain)
        if not improves(sum(self._latencies(steps)), objective):
            return None
        if not self._flows(steps):
            return None
        solution = to_solution(self.problem, steps)
        ev = evaluate(self.problem, solution, self.rules)
        if not ev.valid or not improves(ev.total_latency, objective):
            return None
        return Recomputed(tuple(steps), solution, ev.total_latency)

    def _repair(self, steps: list[Step], changed: Sequence[int]) -> None:
        """Copy into each changed step the producers of the inputs that
        would reach it from nowhere: made by no op of the step, retained
        into it by none and written to slow memory by no step (and so
        on up their inputs). A copy in a later step than the write
        still fails :meth:`_flows`."""
        p = self.problem
        written = set(p.graph_inputs).union(*map(self._evicted, steps))
        for j in sorted(set(changed)):
            s = steps[j]
            kept = set(steps[j - 1].retain) if j > 0 else set()
            have, todo = set(s.ops), list(s.ops)
            while todo:
                for t in p.inputs[todo.pop()]:
                    src = p.producer.get(t)
                    if src is None or src in have:
                        continue
                    if t not in written and t not in kept:
                        have.add(src)
                        todo.append(src)
            if len(have) > len(s.ops):
                ops = self.deps.in_order(have)
                steps[j] = Step(ops, s.grain, s.traversal, s.retain)

    def _evicted(self, s: Step) -> frozenset[int]:
        """The tensors step ``s`` writes to slow memory (its own ops and
        retained set decide them, not what is retained into it)."""
        key = (s.ops, s.retain)
        if key not in self._written:
            view = SubgraphView(self.problem, s.ops, s.retain)
            self._written[key] = frozenset(view.evicted)
        return self._written[key]

    def _flows(self, steps: Sequence[Step]) -> bool:
        """Whether ``steps`` keep the data flow."""
        return missing_input(self.problem, steps) is None

    def _latencies(self, steps: Sequence[Step]) -> list[float]:
        """Every step's latency."""
        return [self._costed(steps, i).latency for i in range(len(steps))]

    def _costed(self, steps: Sequence[Step], i: int) -> Costed:
        """Step ``i`` costed in its retention context, each distinct step
        in its context once."""
        s = steps[i]
        before = steps[i - 1].retain if i > 0 else ()
        key = (s, before)
        if key not in self._memo:
            view = SubgraphView(self.problem, s.ops, s.retain, before)
            cost = view_cost(view, s.grain, s.traversal)
            self._memo[key] = Costed(
                view.grid_shape,
                cost.latency,
                cost.compute_time,
                cost.memory_time,
            )
        return self._memo[key]

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

    def _sinks(self, steps: list[Step], op: int) -> Iterator[_Move]:
        """Op ``op`` moved from each step that holds it into the next
        step that reads its output, when that step holds every reader,
        with the producers it needs from the step it left recomputed
        there (those whose output stays hidden in that step)."""
        p = self.problem
        readers = {c for t in p.outputs[op] for c in p.consumers[t]}
        for i, s in enumerate(steps):
            if op not in s.ops or readers.intersection(s.ops):
                continue
            j = next(
                (
                    j
                    for j in range(i + 1, len(steps))
                    if readers & set(steps[j].ops)
                ),
                None,
            )
            if j is None or not readers <= set(steps[j].ops):
                continue
            yield self._sink(steps, i, j, op)

    def _sink(self, steps: list[Step], i: int, j: int, op: int) -> _Move:
        """``steps`` with ``op`` moved from step ``i`` into step ``j``
        (:meth:`_repair` then copies beside it the producers whose
        outputs no longer reach it)."""
        s, b = steps[i], steps[j]
        rest = tuple(o for o in s.ops if o != op)
        out = list(steps)
        ops = self.deps.in_order({*b.ops, op})
        out[j] = Step(ops, b.grain, b.traversal, b.retain)
        outputs = set(self.problem.outputs[op])
        retain = tuple(t for t in s.retain if t not in outputs)
        if rest:
            out[i] = Step(rest, s.grain, s.traversal, retain)
            return _Move(out, tuple(_around([i, j], len(out))))
        del out[i]
        return _Move(out, tuple(_around([i, j - 1], len(out))))

    def _merges(self, steps: list[Step], _item: int) -> Iterator[_Move]:
        """Two steps of the same grid merged, in the place of either,
        where one is compute-bound and the other memory-bound: a contest
        subgraph need not be connected (SPEC §8 item 3 is strict's), and
        one cell then hides one part's traffic behind the other's
        compute. The pairs with the most to hide go first; the merged
        step keeps the retained set of the step whose place it takes."""
        balance = [self._costed(steps, i) for i in range(len(steps))]
        pairs = sorted(
            (
                (-min(a.slack, b.slack), i, j)
                for i, a in enumerate(balance)
                for j in range(i + 1, len(steps))
                if (b := balance[j]).grid == a.grid
                and b.compute_bound != a.compute_bound
            )
        )
        for _hidden, i, j in pairs:
            ops = self.deps.in_order({*steps[i].ops, *steps[j].ops})
            for at, gone in ((i, j), (j, i)):
                s = steps[at]
                out = list(steps)
                out[at] = Step(ops, s.grain, s.traversal, s.retain)
                del out[gone]
                # The merged step, and the step that followed the removed
                # one (its retained-in set changed), at their new places.
                changed = [at - (gone < at), gone]
                yield _Move(out, tuple(_around(changed, len(out))))

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
