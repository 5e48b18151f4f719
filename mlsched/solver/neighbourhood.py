"""Connected neighbourhoods: windows of subgraphs linked by tensors,
wherever they run in the schedule.

A consecutive window holds the subgraphs that happen to run next to each
other. A producer and its readers can run far apart (the list scheduler
orders by critical path: all projections of an attention layer first,
then every head), so no consecutive window of bounded width holds them
together, and the re-solve cannot fuse them or retain a tensor between
them. A neighbourhood grows from a seed subgraph along the tensors its
ops share with other subgraphs (produced and read, or read by both),
takes in every subgraph on a path between two of its members (so that it
can run as one block) and both ends of every retention pair it touches,
and moves to one contiguous block of the schedule: the subgraphs that
lead to it first, then the block, then the rest, each part in its old
order. Every subgraph keeps its ops, granularity and retained sets, so
the moved schedule costs exactly what the old one did; the block is then
an ordinary window of it (:class:`mlsched.solver.lns.WindowSearch`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from mlsched.model import Problem
from mlsched.model.schedule import Step
from mlsched.solver.lns import Window

#: A neighbourhood whose closure under paths holds more than this many
#: times the asked ops is not moved (it would be most of the schedule).
MAX_GROWTH = 3


@dataclass(frozen=True)
class Block:
    """A schedule moved so that a neighbourhood is one window of it.

    Attributes
    ----------
    steps
        The moved schedule (same subgraphs, another order).
    window
        Where the neighbourhood sits in it.
    """

    steps: tuple[Step, ...]
    window: Window


class StepGraph:
    """Which subgraphs of a schedule feed and neighbour which.

    Parameters
    ----------
    problem
        The problem.
    steps
        A valid schedule.
    """

    def __init__(self, problem: Problem, steps: Sequence[Step]) -> None:
        self.problem = problem
        self.steps = tuple(steps)

    @cached_property
    def _producer(self) -> dict[int, int]:
        """Tensor -> the first step that produces it."""
        out: dict[int, int] = {}
        for i, step in enumerate(self.steps):
            for o in step.ops:
                for t in self.problem.outputs[o]:
                    out.setdefault(t, i)
        return out

    @cached_property
    def preds(self) -> list[set[int]]:
        """Steps each step must run after: producers of what it reads,
        and the step that retains into it."""
        p, producer = self.problem, self._producer
        out: list[set[int]] = [set() for _ in self.steps]
        for i, step in enumerate(self.steps):
            for o in step.ops:
                for t in p.inputs[o]:
                    j = producer.get(t)
                    if j is not None and j < i:
                        out[i].add(j)
            if i and self.steps[i - 1].retain:
                out[i].add(i - 1)
        return out

    @cached_property
    def links(self) -> list[set[int]]:
        """Steps linked to each step by a tensor: one produces what the
        other reads, or both read it."""
        readers: dict[int, set[int]] = {}
        for i, step in enumerate(self.steps):
            for o in step.ops:
                for t in self.problem.inputs[o]:
                    readers.setdefault(t, set()).add(i)
        out: list[set[int]] = [set(ps) for ps in self.preds]
        for i, ps in enumerate(self.preds):
            for j in ps:
                out[j].add(i)
        for group in readers.values():
            for i in group:
                out[i] |= group
        for i, linked in enumerate(out):
            linked.discard(i)
        return out

    def grow(self, seed: int, ops: int) -> set[int]:
        """Steps reached from ``seed`` breadth-first along links until
        they hold at least ``ops`` ops (or all that are reachable)."""
        chosen, queue = {seed}, deque([seed])
        held = len(self.steps[seed].ops)
        while queue and held < ops:
            for j in sorted(self.links[queue.popleft()]):
                if j not in chosen and held < ops:
                    chosen.add(j)
                    held += len(self.steps[j].ops)
                    queue.append(j)
        return chosen

    def _reach(self, chosen: set[int], forward: bool) -> list[bool]:
        """Per step, whether a path leads to it from ``chosen``
        (forward) or from it into ``chosen`` (backward); members count."""
        n = len(self.steps)
        hit = [i in chosen for i in range(n)]
        if forward:
            for i in range(n):
                hit[i] = hit[i] or any(hit[j] for j in self.preds[i])
        else:
            for i in reversed(range(n)):
                if hit[i]:
                    for j in self.preds[i]:
                        hit[j] = True
        return hit

    def close(self, chosen: set[int]) -> set[int]:
        """``chosen`` with every step on a path between two members and
        both ends of every retention pair among them."""
        closed = set(chosen)
        while True:
            after = self._reach(closed, forward=True)
            before = self._reach(closed, forward=False)
            grown = {
                i for i in range(len(self.steps)) if after[i] and before[i]
            }
            for i in list(grown):
                if i and self.steps[i - 1].retain:
                    grown.add(i - 1)
                if self.steps[i].retain and i + 1 < len(self.steps):
                    grown.add(i + 1)
            if grown == closed:
                return closed
            closed = grown

    def block(self, chosen: set[int]) -> Block | None:
        """The schedule with the closed set ``chosen`` moved to one
        block, or None when that would split a retention pair outside
        it."""
        before = self._reach(chosen, forward=False)
        head = [
            i for i in range(len(self.steps)) if before[i] and i not in chosen
        ]
        tail = [
            i
            for i in range(len(self.steps))
            if not before[i] and i not in chosen
        ]
        in_head = set(head)
        for i, step in enumerate(self.steps[:-1]):
            if (
                step.retain
                and i not in chosen
                and (i in in_head) != (i + 1 in in_head)
            ):
                return None
        order = head + sorted(chosen) + tail
        return Block(
            tuple(self.steps[i] for i in order),
            Window(len(head), len(head) + len(chosen)),
        )


def neighbourhood(
    problem: Problem, steps: Sequence[Step], seed: int, ops: int
) -> Block | None:
    """The neighbourhood of step ``seed`` of about ``ops`` ops, moved to
    one block; None when its closure holds more than :data:`MAX_GROWTH`
    times ``ops`` ops or moving it would split a retention pair."""
    graph = StepGraph(problem, steps)
    chosen = graph.close(graph.grow(seed, ops))
    if sum(len(steps[i].ops) for i in chosen) > MAX_GROWTH * ops:
        return None
    return graph.block(chosen)
