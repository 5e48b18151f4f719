"""Recomputation: a producer copied into the subgraphs of its readers."""

from __future__ import annotations

import pytest
from generators import hand_problem

from mlsched import clock, evaluate, load_problem, solve
from mlsched.heuristics import GranularityOptimizer
from mlsched.heuristics.start import list_start
from mlsched.model.result import SolveStatus
from mlsched.model.schedule import Step, to_solution
from mlsched.solver.recompute import Recomputer

RULES = ("strict", "contest")

# T2 = T0 (128x8) @ T1 (8x128) by op 0 (base cost 100) is read by two
# Pointwise ops (base cost 1000 each) writing graph outputs T3 and T4;
# capacity 30,000, bandwidth 10: a 128x128 slice moves in 1638.4.
# - All three in one subgraph: one 128x128 tile holds 128*8 + 8*128 +
#   2*16384 = 34,816 > 30,000, so two 128x64 tiles, each paying compute
#   2100 (above its traffic, at most (512 + 1024 + 8192*2) / 10 = 1792):
#   4200.
# - {0, 1} keeping T2 for {2}: {0, 1} has outputs T2 and T3 (34,816), so
#   two tiles of compute 1100: 2200; {2} holds T2 (16,384) beside its
#   output slice, again two tiles of compute 1000: 2000; 4200 in all.
#   {0, 2} keeping T2 for {1} likewise.
# - {0} alone (loads 2048, stores 16,384: 1843.2), then 1 and 2 apart
#   (3276.8 each) or together (T2 twice and two outputs: four 64x64
#   tiles of compute 2000): at least 8396.8.
# - Recomputing op 0: {0, 1} and {0, 2}, T2 ephemeral in both (rule 6
#   holds: each reader shares a subgraph with op 0). One tile each holds
#   1024 + 1024 + 16384 = 18,432; its traffic (2048 + 16384) / 10 =
#   1843.2 exceeds compute 1100: 3686.4 in all, the optimum.
SHARED = hand_problem(
    [(128, 8), (8, 128), (128, 128), (128, 128), (128, 128)],
    [
        ("MatMul", [0, 1], 2, 100),
        ("Pointwise", [2], 3, 1000),
        ("Pointwise", [2], 4, 1000),
    ],
    capacity=30_000,
)
FUSED = 4200.0
OPTIMUM = 3686.4


def fused(rules: str) -> tuple[GranularityOptimizer, list[Step]]:
    """The fine optimizer and the schedule of all three ops fused."""
    problem = load_problem(SHARED)
    fine = GranularityOptimizer(problem, rules, fine=True)
    choice = fine.best((0, 1, 2))
    assert choice is not None
    return fine, [Step((0, 1, 2), choice.grain, choice.traversal)]


@pytest.mark.parametrize("rules", RULES)
def test_recomputation_reaches_the_hand_optimum(rules: str) -> None:
    """Tests that from the fused schedule the pass splits it into two
    subgraphs that both compute op 0, at the hand-derived optimum, and
    that the evaluator accepts it."""
    problem = load_problem(SHARED)
    fine, steps = fused(rules)
    start = evaluate(problem, to_solution(problem, steps), rules)
    assert start.total_latency == pytest.approx(FUSED)
    found = Recomputer(problem, rules, fine).improve(steps, FUSED)
    assert found is not None
    assert found.objective == pytest.approx(OPTIMUM)
    assert sorted(s.ops for s in found.steps) == [(0, 1), (0, 2)]
    ev = evaluate(problem, found.solution, rules)
    assert ev.valid
    assert ev.total_latency == pytest.approx(found.objective, rel=1e-12)


@pytest.mark.parametrize("rules", RULES)
def test_recomputation_keeps_an_optimum(rules: str) -> None:
    """Tests that the pass finds nothing from the optimum itself (no
    move is kept unless it lowers the latency)."""
    problem = load_problem(SHARED)
    fine, steps = fused(rules)
    found = Recomputer(problem, rules, fine).improve(steps, FUSED)
    assert found is not None
    again = Recomputer(problem, rules, fine).improve(
        found.steps, found.objective
    )
    assert again is None


@pytest.mark.timed
@pytest.mark.parametrize("rules", RULES)
def test_solver_recomputes(rules: str) -> None:
    """Tests that the CP-SAT solve, whose columns cover each op once,
    returns the recomputing optimum, exactly evaluated, and claims no
    optimality over its columns (the schedule is not made of them)."""
    problem = load_problem(SHARED)
    result = solve(problem, rules=rules, method="cpsat", time_limit=1.0)
    assert result.objective == pytest.approx(OPTIMUM)
    ops = [o for s in result.solution.subgraphs for o in s]
    assert ops.count(0) == 2
    assert result.status is not SolveStatus.COLUMN_OPTIMAL
    assert result.column_bound is None
    ev = evaluate(problem, result.solution, rules)
    assert ev.valid
    assert ev.total_latency == pytest.approx(result.objective, rel=1e-12)


def test_recomputation_on_a_benchmark_is_valid_and_lower() -> None:
    """Tests that on benchmark 6 (residual tensors read two subgraphs
    apart), contest profile, the pass lowers the list schedule and
    every schedule it returns is valid at its claimed latency."""
    problem = load_problem("mlsys-2026-6")
    begin = list_start(problem, "contest", 1e18)
    fine = GranularityOptimizer(problem, "contest", fine=True)
    found = Recomputer(problem, "contest", fine).improve(
        begin.steps, begin.objective
    )
    assert found is not None
    assert found.objective < begin.objective
    ev = evaluate(problem, found.solution, "contest")
    assert ev.valid
    assert ev.total_latency == pytest.approx(found.objective, rel=1e-12)


def test_recomputation_stops_at_the_deadline() -> None:
    """Tests that the pass tries no move once its deadline has passed,
    even where one would improve."""
    problem = load_problem(SHARED)
    fine, steps = fused("strict")
    found = Recomputer(problem, "strict", fine).improve(
        steps, FUSED, deadline=clock.now()
    )
    assert found is None
