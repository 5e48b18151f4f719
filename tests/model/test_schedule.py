"""Steps and solutions: ``to_solution`` and its inverse ``from_solution``."""

from __future__ import annotations

import pytest

from mlsched import Solution, load_problem
from mlsched.heuristics import GranularityOptimizer, ListScheduler
from mlsched.model.schedule import from_solution, to_solution


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
