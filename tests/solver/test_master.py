"""The order-free master, the ordering check and its cuts.

The order-free master picks columns by coverage, retention pairing and
objective alone; a selection is then ordered, and one that cannot be is
cut off. Solved to the end this way it must reach the positional
model's optimum, which the exhaustive tests of ``test_model.py`` tie to
every valid schedule of the columns.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from solver_setup import (
    TINY,
    enumerated,
    exact_latency,
    shares_enumerated,
    slack,
    solver_with,
)

from mlsched import Problem, evaluate, load_problem
from mlsched.heuristics import GranularityOptimizer
from mlsched.model.result import SolveStatus
from mlsched.model.schedule import Step, to_solution
from mlsched.solver import Column, ColumnModel, to_status
from mlsched.solver.master import OrderFreeModel
from mlsched.solver.order import Orderer

RULES = ("strict", "contest")

# Four 128x128 Pointwise ops in two chains, bandwidth 10, ample memory:
#   T0 -> op 0 -> T1 -> op 1 -> T2      (base costs 5000, 100)
#   T3 -> op 2 -> T4 -> op 3 -> T5      (base costs 5000, 100)
# Alone, each op moves two 128x128 slices (3276.8) in one tile: ops 0
# and 2 cost 5000, ops 1 and 3 cost 3276.8. A = {0, 3} and B = {1, 2}
# (contest rules allow disconnected subgraphs) each load two slices and
# store two, in one tile: max(5100, 6553.6) = 6553.6. A and B
# together cost 13107.2, the cheapest cover of these columns, but op 0
# (in A) feeds op 1 (in B) and op 2 (in B) feeds op 3 (in A): no order.
# The orderable optimum pairs one of them with the other two ops alone:
# 6553.6 + 5000 + 3276.8 = 14830.4.
CROSSED: dict[str, Any] = {
    "widths": [128] * 6,
    "heights": [128] * 6,
    "inputs": [[0], [1], [3], [4]],
    "outputs": [[1], [2], [4], [5]],
    "base_costs": [5000, 100, 5000, 100],
    "op_types": ["Pointwise"] * 4,
    "fast_memory_capacity": 10**6,
    "slow_memory_bandwidth": 10,
    "native_granularity": [128, 128],
}
CROSSED_OPTIMUM = 14830.4


def crossed_columns(problem: Problem) -> list[Column]:
    """Every op alone, A = (0, 3) and B = (1, 2), without retention."""
    optimizer = GranularityOptimizer(problem, "contest")
    none: frozenset[int] = frozenset()
    columns = []
    for ops in [(0,), (1,), (2,), (3,), (0, 3), (1, 2)]:
        choice = optimizer.best(ops)
        assert choice is not None
        columns.append(Column(ops, none, none, choice))
    return columns


def solve_with_cuts(master: OrderFreeModel) -> list[Step]:
    """Solve the order-free master to optimality, cutting off selections
    that cannot be ordered, and return the ordered optimum."""
    while True:
        solver = solver_with()
        status = to_status(solver.solve(master.model))
        assert status is SolveStatus.COLUMN_OPTIMAL
        ordering = master.order(master.chosen(solver.boolean_value))
        if ordering.order is not None:
            return [master.columns[c].step() for c in ordering.order]
        assert ordering.conflict
        master.cut(ordering.conflict)


def test_crossed_selection_is_cut() -> None:
    """Tests that the cheapest cover of CROSSED, which no order can run,
    is reported as a conflict of exactly its two columns, and that one
    cut leads to the orderable optimum 14830.4 (derived above)."""
    problem = load_problem(CROSSED)
    columns = crossed_columns(problem)
    latencies = [round(c.latency, 6) for c in columns]
    assert latencies == [5000.0, 3276.8, 5000.0, 3276.8, 6553.6, 6553.6]
    orderer = Orderer(problem, columns)
    ordering = orderer.order([4, 5])
    assert ordering.order is None
    assert ordering.conflict == (4, 5)
    master = OrderFreeModel(problem, columns)
    steps = solve_with_cuts(master)
    assert master.cuts == 1
    latency = exact_latency(problem, steps, "contest")
    assert math.isclose(latency, CROSSED_OPTIMUM, rel_tol=1e-9)


def test_retention_chain_runs_as_a_block() -> None:
    """Tests that a giver runs right before its taker even when the
    topological order alone would put another column between them.

    In CROSSED, op 0 may retain T1 for op 1; ops 2 and 3 are
    independent of both, so only the chain keeps 1 right after 0.
    """
    problem = load_problem(CROSSED)
    optimizer = GranularityOptimizer(problem, "contest")
    keep = frozenset([1])
    none: frozenset[int] = frozenset()
    give = optimizer.best((0,), none, keep)
    take = optimizer.best((1,), keep, none)
    assert give is not None and take is not None
    columns = [
        crossed_columns(problem)[2],
        Column((0,), none, keep, give),
        crossed_columns(problem)[3],
        Column((1,), keep, none, take),
    ]
    ordering = Orderer(problem, columns).order([0, 1, 2, 3])
    assert ordering.order is not None
    order = list(ordering.order)
    assert order.index(3) == order.index(1) + 1
    assert order.index(2) > order.index(0)
    steps = [columns[c].step() for c in order]
    ev = evaluate(problem, to_solution(problem, steps), "contest")
    assert ev.valid, ev.message


@shares_enumerated
@pytest.mark.parametrize("rules", RULES)
@pytest.mark.parametrize(
    "problem", [p for _, p in TINY], ids=[n for n, _ in TINY]
)
def test_order_free_optimum_equals_positional(
    problem: Problem, rules: str
) -> None:
    """Tests, on tiny instances with every valid column schedule
    enumerated, that the order-free master with cuts reaches the same
    optimum as the positional model and the brute force, and that its
    schedule is valid."""
    columns, valid = enumerated(problem, rules)
    best = min(valid.values(), default=math.inf)
    positional = ColumnModel(problem, columns)
    solver = solver_with()
    status = to_status(solver.solve(positional.model))
    assert status is SolveStatus.COLUMN_OPTIMAL
    exact = exact_latency(problem, positional.decode(solver.value), rules)
    master = OrderFreeModel(problem, columns)
    latency = exact_latency(problem, solve_with_cuts(master), rules)
    tolerance = 2 * slack(master, problem.num_ops, best)
    assert abs(latency - exact) <= tolerance
    assert abs(latency - best) <= tolerance
