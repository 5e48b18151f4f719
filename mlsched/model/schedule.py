"""Schedules as lists of steps, and their exact contest solutions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from mlsched.model.cost import (
    TRAVERSALS,
    known_cost,
    shape_costs,
    traversal_permutation,
)
from mlsched.model.problem import Problem
from mlsched.model.solution import Solution
from mlsched.model.subgraph import Grain, SubgraphView


@dataclass(frozen=True)
class Step:
    """One subgraph of a schedule, as the schedulers build it.

    Attributes
    ----------
    ops
        Op ids in execution order.
    grain
        Tile granularity.
    traversal
        A named order of :data:`mlsched.model.TRAVERSALS`.
    retain
        Tensors kept in fast memory for the next step.
    """

    ops: tuple[int, ...]
    grain: Grain
    traversal: str = "raster"
    retain: tuple[int, ...] = ()


def to_solution(problem: Problem, steps: Sequence[Step]) -> Solution:
    """The contest solution of ``steps`` with exact subgraph latencies.

    Parameters
    ----------
    problem
        The problem.
    steps
        The schedule.

    Returns
    -------
    Solution
        Raster orders are written as ``null``; other named orders as their
        explicit permutation. Latencies come from the class oracle.
    """
    orders: list[tuple[int, ...] | None] = []
    for view, step in _views(problem, steps):
        if step.traversal == "raster":
            orders.append(None)
        else:
            nw, nh = view.grid(step.grain)
            orders.append(tuple(traversal_permutation(step.traversal, nw, nh)))
    latencies = step_latencies(problem, steps)
    return Solution(
        subgraphs=tuple(s.ops for s in steps),
        granularities=tuple(tuple(s.grain.as_list()) for s in steps),
        tensors_to_retain=tuple(s.retain for s in steps),
        traversal_orders=tuple(orders),
        subgraph_latencies=tuple(latencies),
    )


def from_solution(problem: Problem, solution: Solution) -> list[Step] | None:
    """The steps of a solution, or None if it has none as steps.

    A solution is a list of steps when every traversal is a named order
    of :data:`mlsched.model.TRAVERSALS` on its grid and the
    granularities have three entries; the solution is not validated.
    """
    steps = []
    befores = retained_in(solution.tensors_to_retain)
    for s, (ops, retain_in) in enumerate(zip(solution.subgraphs, befores)):
        if len(solution.granularities[s]) != 3:
            return None
        grain = Grain.of(solution.granularities[s])
        retain = tuple(solution.tensors_to_retain[s])
        order = solution.traversal_orders[s]
        name: str | None = "raster"
        if order is not None:
            view = SubgraphView(problem, tuple(ops), retain, retain_in)
            nw, nh = view.grid(grain)
            name = next(
                (
                    t
                    for t in TRAVERSALS
                    if traversal_permutation(t, nw, nh) == list(order)
                ),
                None,
            )
        if name is None:
            return None
        steps.append(Step(tuple(ops), grain, name, retain))
    return steps


def retained_in(
    retains: Iterable[Iterable[int]],
) -> Iterator[tuple[int, ...]]:
    """The tensors retained into each subgraph of a schedule, given what
    each subgraph retains (SPEC §7): none into the first, then what its
    predecessor retains."""
    before: tuple[int, ...] = ()
    for retain in retains:
        yield before
        before = tuple(retain)


class MissingInput(NamedTuple):
    """An input the data flow cannot supply: op ``op`` of subgraph
    ``subgraph`` reads ``tensor``, which is neither made earlier in the
    subgraph, retained into it, a graph input nor written to slow memory
    by an earlier subgraph."""

    op: int
    tensor: int
    subgraph: int = 0


def unavailable_input(
    p: Problem, view: SubgraphView, evicted: set[int], subgraph: int = 0
) -> MissingInput | None:
    """The first input of a subgraph that the data flow cannot supply.

    Parameters
    ----------
    p
        The problem.
    view
        The subgraph, with the tensors retained into it.
    evicted
        The tensors earlier subgraphs wrote to slow memory.
    subgraph
        The subgraph's index, reported back.

    Returns
    -------
    MissingInput | None
        The first input neither produced in the subgraph, retained into
        it, a graph input nor in ``evicted``; None when every input is
        available.
    """
    for o in view.ops:
        for t in p.inputs[o]:
            if t in view.produced or t in view.retain_in:
                continue
            if t not in p.graph_inputs and t not in evicted:
                return MissingInput(o, t, subgraph)
    return None


def missing_input(
    problem: Problem, steps: Sequence[Step]
) -> MissingInput | None:
    """The first input of a schedule that its data flow cannot supply
    (SPEC §4: every input is made, retained or in slow memory), or None
    where the schedule keeps the data flow."""
    evicted: set[int] = set()
    for s, (view, _) in enumerate(_views(problem, steps)):
        missing = unavailable_input(problem, view, evicted, s)
        if missing is not None:
            return missing
        evicted.update(view.evicted)
    return None


def _views(
    problem: Problem, steps: Sequence[Step]
) -> Iterator[tuple[SubgraphView, Step]]:
    """Each step with its view (retained sets from the step before)."""
    befores = retained_in(s.retain for s in steps)
    for step, before in zip(steps, befores):
        yield SubgraphView(problem, step.ops, step.retain, before), step


def step_latencies(problem: Problem, steps: Sequence[Step]) -> list[float]:
    """The exact latency of every step, by the class oracle.

    The layers of a real model repeat, so each distinct step (equal
    :func:`~mlsched.model.subgraph.shape_signature`, granularity and
    traversal) is costed once; and the granularity search has costed
    most steps already (see :func:`~mlsched.model.cost.known_cost`).
    """
    memo: dict[object, float] = {}
    latencies = []
    for view, step in _views(problem, steps):
        key = (view.signature, step.grain, step.traversal)
        if key not in memo:
            costs = shape_costs(problem, view.signature)
            cost = known_cost(view, costs, step.grain, step.traversal)
            memo[key] = cost.latency
        latencies.append(memo[key])
    return latencies
