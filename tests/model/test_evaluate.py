"""The evaluator's helpers that other modules share."""

from __future__ import annotations

import pytest
from generators import hand_problem

from mlsched import load_problem
from mlsched.model import SubgraphView
from mlsched.model.evaluate import unavailable_input

# T0 -> op 0 -> T1 -> op 1 -> T2 -> op 2 -> T3, all 128x128 Pointwise.
CHAIN = hand_problem(
    [(128, 128)] * 4,
    [
        ("Pointwise", [0], 1, 100),
        ("Pointwise", [1], 2, 100),
        ("Pointwise", [2], 3, 100),
    ],
)


@pytest.mark.parametrize(
    ("ops", "retain_in", "evicted", "missing"),
    [
        ((0,), (), set(), None),  # a graph input
        ((0, 1, 2), (), set(), None),  # made earlier in the subgraph
        ((1,), (1,), set(), None),  # retained into it
        ((1,), (), {1}, None),  # written by an earlier subgraph
        ((1,), (), set(), (1, 1)),  # never written
        ((1, 2), (), {2}, (1, 1)),  # the first missing input is named
        ((2,), (1,), {1}, (2, 2)),  # T1 available, T2 not
    ],
)
def test_unavailable_input(
    ops: tuple[int, ...],
    retain_in: tuple[int, ...],
    evicted: set[int],
    missing: tuple[int, int] | None,
) -> None:
    """Tests that the first input the data flow cannot supply is named
    as (op, tensor), and None when every input is available."""
    p = load_problem(CHAIN)
    view = SubgraphView(p, ops, (), retain_in)
    assert unavailable_input(p, view, evicted) == missing
