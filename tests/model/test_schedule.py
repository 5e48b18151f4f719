"""Steps and solutions: ``to_solution`` and its inverse ``from_solution``."""

from __future__ import annotations

import pytest
from generators import hand_problem

from mlsched import Solution, load_problem
from mlsched.heuristics import GranularityOptimizer, ListScheduler
from mlsched.model import Grain, SubgraphView
from mlsched.model.schedule import (
    MissingInput,
    Step,
    from_solution,
    missing_input,
    to_solution,
    unavailable_input,
)

# T0 -> op 0 -> T1 -> op 1 -> T2 -> op 2 -> T3, all 128x128 Pointwise.
CHAIN = hand_problem(
    [(128, 128)] * 4,
    [
        ("Pointwise", [0], 1, 100),
        ("Pointwise", [1], 2, 100),
        ("Pointwise", [2], 3, 100),
    ],
)
GRAIN = Grain(128, 128, 1)


# mlsys-2026-5 has column-snake steps, mlsys-2026-11 a row-snake one.
@pytest.mark.parametrize("name", ["mlsys-2026-5", "mlsys-2026-11"])
def test_from_solution_inverts_to_solution(name: str) -> None:
    """Tests that the steps read back from a schedule's solution give the
    same solution (named traversals recognised from their permutation)."""
    problem = load_problem(name)
    steps = ListScheduler(
        problem, "strict", GranularityOptimizer(problem)
    ).schedule()
    assert any(s.traversal != "raster" for s in steps)
    solution = to_solution(problem, steps)
    back = from_solution(problem, solution)
    assert back is not None
    assert to_solution(problem, back) == solution


def test_from_solution_rejects_an_unnamed_order() -> None:
    """Tests that a traversal no named order produces has no steps."""
    problem = load_problem("example4")
    # [64,64,128] on 128x128: 2x2 tiles. [0,3,1,2] is none of raster
    # [0,1,2,3], snake [0,1,3,2], column-major [0,2,1,3] or column
    # snake [0,2,3,1].
    solution = Solution(
        subgraphs=((0,),),
        granularities=((64, 64, 128),),
        tensors_to_retain=((),),
        traversal_orders=((0, 3, 1, 2),),
        subgraph_latencies=(0.0,),
    )
    assert from_solution(problem, solution) is None


@pytest.mark.parametrize(
    ("subgraphs", "missing"),
    [
        # Each tensor written back, then read: the flow is kept.
        ([((0,), ()), ((1,), ()), ((2,), ())], None),
        # T1 retained into the next subgraph, T2 made beside its reader.
        ([((0,), (1,)), ((1, 2), ())], None),
        # T1 is ephemeral in {0, 1} (its only reader is inside), T2 is
        # written back: op 2 reads it from slow memory.
        ([((0, 1), ()), ((2,), ())], None),
        # Op 2 runs before op 1 made T2.
        ([((0,), ()), ((2,), ()), ((1,), ())], MissingInput(2, 2, 1)),
        # T2 retained out of {1} into {2}, which reads it.
        ([((0,), ()), ((1,), (2,)), ((2,), ())], None),
        # Op 1 reads T1 before op 0 made it.
        ([((1,), ()), ((0,), ()), ((2,), ())], MissingInput(1, 1, 0)),
    ],
)
def test_missing_input_walks_the_data_flow(
    subgraphs: list[tuple[tuple[int, ...], tuple[int, ...]]],
    missing: MissingInput | None,
) -> None:
    """Tests that the first input a schedule's data flow cannot supply is
    named with its op, tensor and subgraph, and None where every input is
    made, retained or written back by an earlier subgraph."""
    problem = load_problem(CHAIN)
    steps = [Step(ops, GRAIN, retain=retain) for ops, retain in subgraphs]
    assert missing_input(problem, steps) == missing


@pytest.mark.parametrize(
    ("ops", "retain_in", "evicted", "missing"),
    [
        ((0,), (), set(), None),  # a graph input
        ((0, 1, 2), (), set(), None),  # made earlier in the subgraph
        ((1,), (1,), set(), None),  # retained into it
        ((1,), (), {1}, None),  # written by an earlier subgraph
        ((1,), (), set(), MissingInput(1, 1)),  # never written
        # The first missing input is named.
        ((1, 2), (), {2}, MissingInput(1, 1)),
        ((2,), (1,), {1}, MissingInput(2, 2)),  # T1 available, T2 not
    ],
)
def test_unavailable_input(
    ops: tuple[int, ...],
    retain_in: tuple[int, ...],
    evicted: set[int],
    missing: MissingInput | None,
) -> None:
    """Tests that the first input the data flow cannot supply is named
    with its op and tensor, and None when every input is available."""
    p = load_problem(CHAIN)
    view = SubgraphView(p, ops, (), retain_in)
    assert unavailable_input(p, view, evicted) == missing
