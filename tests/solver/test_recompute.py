"""Recomputation: a producer copied into the subgraphs of its readers."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from generators import hand_problem
from solver_setup import slow_recomputer

from mlsched import (
    Solution,
    clock,
    evaluate,
    generate,
    load_problem,
    solve,
)
from mlsched.heuristics import GranularityOptimizer
from mlsched.heuristics.start import list_start
from mlsched.model.result import SolveStatus
from mlsched.model.schedule import Step, missing_input, to_solution
from mlsched.solver import driver
from mlsched.solver.recompute import Recomputed, Recomputer

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


def test_recomputation_stops_at_the_deadline() -> None:
    """Tests that the pass tries no move once its deadline has passed,
    even where one would improve."""
    problem = load_problem(SHARED)
    fine, steps = fused("strict")
    found = Recomputer(problem, "strict", fine).improve(
        steps, FUSED, deadline=clock.now()
    )
    assert found is None


@pytest.mark.timed
def test_recomputation_keeps_slow_moves_inside_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tests that the pass starts no move that would end past its
    deadline if it took as long as the longest move so far, however the
    move spends its time (here none reaches a whole evaluation)."""
    problem = load_problem("mlsys-2026-5")
    begin = list_start(problem, "contest")
    recomputer, tried = slow_recomputer(problem, "contest", monkeypatch)
    deadline = clock.now() + 0.5
    found = recomputer.improve(begin.steps, begin.objective, deadline)
    # The first move (0.3 s) ends before the deadline; a second would
    # end at 0.6 s, past it, so the pass stops after one move.
    assert found is None
    assert len(tried) == 1
    assert clock.now() < deadline
    assert recomputer.out_of_time


# A skip connection into a MatMul, the pattern of contest benchmark 12.
# T1 = pw(T0) (op 0, base 100) feeds T3 = T1 @ T2 (op 1, base 12,000)
# and T4 = pw(T3, T1) (op 2, base 100), which is the left operand of
# the graph output T6 = T4 @ T5 (op 3, base 12,000). Activations are
# 256x512 (eight native tiles, 131,072 elements: more than the capacity
# 120,000, so none can be retained), weights 512x512 (K = 512);
# bandwidth 10. At a 128x128 tile a MatMul's right strip is 512x128
# (65,536) and so is a left strip read from slow memory.
# - Compute alone is 8 tiles x 24,200 = 193,600 (every tensor has eight
#   tiles; no smaller grid exists).
# - Without recomputation op 0 runs once, and T1 reaches both op 1 and
#   op 2 only if they share its subgraph (all four fused: 16,384 + 2 x
#   65,536 + 16,384 = 163,840 > 120,000 at 128x128, so 16 tiles of
#   compute 24,200 or more) or T1 is written: then op 1 reads T1, or
#   op 3 reads T4, as a left strip from slow memory. Strip, right strip
#   and output (147,456) do not fit, so k splits or tiles shrink: split,
#   each tile loads 65,536 x 2 and stores 16,384 (14,745.6 > 12,000) and
#   the MatMul costs 8 x 14,745.6 = 117,964.8; shrunk, 16 tiles of
#   12,000. Best: {0, 1, 2} (8 x 12,200 = 97,600) then {3} (117,964.8):
#   215,564.8.
# - Recomputing op 0: {0, 1} and {0, 2, 3}, T1 hidden in both and T4
#   hidden (rule 6 holds: op 2 shares the second subgraph with op 0).
#   Working sets 98,304 and 114,688 fit at 128x128 and k = 512; every
#   cell is compute-bound (at most 114,688 / 10 < 12,100):
#   8 x 12,100 + 8 x 12,200 = 194,400, compute plus the cheapest
#   possible copy (op 0, 800): the optimum.
SKIP = hand_problem(
    [
        (256, 512),
        (256, 512),
        (512, 512),
        (256, 512),
        (256, 512),
        (512, 512),
        (256, 512),
    ],
    [
        ("Pointwise", [0], 1, 100),
        ("MatMul", [1, 2], 3, 12_000),
        ("Pointwise", [3, 1], 4, 100),
        ("MatMul", [4, 5], 6, 12_000),
    ],
    capacity=120_000,
)
SKIP_START = 215_564.8
SKIP_OPTIMUM = 194_400.0


def test_sink_reaches_the_hand_optimum() -> None:
    """Tests that from {0, 1, 2} then {3} the pass moves op 2 beside op
    3 with a copy of op 0, at the hand-derived optimum, valid and with
    every input supplied by the data flow."""
    problem = load_problem(SKIP)
    fine = GranularityOptimizer(problem, "contest", fine=True)
    steps = []
    for ops in ((0, 1, 2), (3,)):
        choice = fine.best(ops)
        assert choice is not None
        steps.append(Step(ops, choice.grain, choice.traversal))
    start = evaluate(problem, to_solution(problem, steps), "contest")
    assert start.total_latency == pytest.approx(SKIP_START)
    found = Recomputer(problem, "contest", fine).improve(steps, SKIP_START)
    assert found is not None
    assert found.objective == pytest.approx(SKIP_OPTIMUM)
    assert [s.ops for s in found.steps] == [(0, 1), (0, 2, 3)]
    assert missing_input(problem, found.steps) is None
    ev = evaluate(problem, found.solution, "contest")
    assert ev.valid
    assert ev.total_latency == pytest.approx(found.objective, rel=1e-12)


def test_solver_sinks_with_recomputation() -> None:
    """Tests that a contest solve reaches the skip-connection optimum,
    which no schedule covering each op once can (its best is 215,564.8)."""
    result = solve(SKIP, rules="contest", method="cpsat", time_limit=2.0)
    assert result.objective == pytest.approx(SKIP_OPTIMUM)
    assert [list(s) for s in result.solution.subgraphs] == [
        [0, 1],
        [0, 2, 3],
    ]


@pytest.mark.parametrize(
    ("name", "below"),
    [
        ("mlsys-2026-6", None),
        ("mlsys-2026-12", 2_200_000.0),
        ("transformer-80", None),
    ],
)
def test_pass_is_lower_and_keeps_the_data_flow(
    name: str, below: float | None
) -> None:
    """Tests that on contest benchmarks 6 (residual tensors read two
    subgraphs apart) and 12 (MatMuls fed by skip connections, list
    schedule 2,827,865.9) and on a generated 80-op transformer (where
    copies of a producer once read a tensor nothing wrote) the pass
    lowers the list schedule, on 12 below 2,200,000 by sinks, and that
    every schedule it returns is valid at its claimed latency with
    every input supplied by the data flow."""
    if name.startswith("transformer"):
        problem = load_problem(generate("transformer", ops=80, seed=1))
    else:
        problem = load_problem(name)
    begin = list_start(problem, "contest", 1e18)
    fine = GranularityOptimizer(problem, "contest", fine=True)
    found = Recomputer(problem, "contest", fine).improve(
        begin.steps, begin.objective
    )
    assert found is not None
    assert found.objective < min(begin.objective, below or math.inf)
    assert missing_input(problem, found.steps) is None
    ev = evaluate(problem, found.solution, "contest")
    assert ev.valid
    assert ev.total_latency == pytest.approx(found.objective, rel=1e-12)


# Two unlinked Pointwise ops on 128x128 graph inputs, each writing a
# graph output (bandwidth 10): op 0 computes 5000 a tile and moves
# 2 x 16,384 / 10 = 3276.8, op 1 computes 10. Apart, on one native tile
# each (more tiles only add compute): 5000 + 3276.8 = 8276.8. Together
# (contest: a subgraph need not be connected) one tile computes 5010 and
# moves 6553.6, which every schedule must move (two inputs loaded, two
# outputs stored): 6553.6 is the optimum. Strict keeps them apart.
TWO_LOADS = hand_problem(
    [(128, 128), (128, 128), (128, 128), (128, 128)],
    [("Pointwise", [0], 1, 5000), ("Pointwise", [2], 3, 10)],
)


def test_merge_overlaps_compute_with_traffic() -> None:
    """Tests that the pass merges a compute-bound step with an unlinked
    memory-bound one of the same grid in contest, reaching the
    hand-derived optimum (values in the comment above), and leaves the
    strict schedule as it is."""
    problem = load_problem(TWO_LOADS)
    for rules, expected in (("contest", 6553.6), ("strict", None)):
        fine = GranularityOptimizer(problem, rules, fine=True)
        steps = []
        for ops in ((0,), (1,)):
            choice = fine.best(ops)
            assert choice is not None
            steps.append(Step(ops, choice.grain, choice.traversal))
        start = evaluate(problem, to_solution(problem, steps), rules)
        assert start.total_latency == pytest.approx(8276.8)
        found = Recomputer(problem, rules, fine).improve(steps, 8276.8)
        if expected is None:
            assert found is None
            continue
        assert found is not None
        assert found.objective == pytest.approx(expected)
        assert [s.ops for s in found.steps] == [(0, 1)]
        ev = evaluate(problem, found.solution, rules)
        assert ev.valid, ev.message
        assert ev.total_latency == pytest.approx(found.objective)


def test_solver_merges_in_contest_only() -> None:
    """Tests that a contest solve reaches the merged optimum of the
    instance above and a strict one keeps the ops apart (8276.8, its
    optimum: strict subgraphs are connected)."""
    contest = solve(TWO_LOADS, rules="contest", time_limit=2.0)
    assert contest.objective == pytest.approx(6553.6)
    strict = solve(TWO_LOADS, rules="strict", time_limit=2.0)
    assert strict.objective == pytest.approx(8276.8)


# Above GLOBAL_MAX_OPS: the windows follow the list schedule directly.
TRANSFORMER = generate("transformer", layers=3)


def _repeats_an_op(solution: Solution) -> bool:
    """Whether ``solution`` computes some op in two subgraphs."""
    ops = [o for s in solution.subgraphs for o in s]
    return len(ops) > len(set(ops))


def _events(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The recomputation gains and windows a solve logged, in order."""
    events = []
    for record in caplog.records:
        message = record.getMessage()
        if message.startswith("recomputation:"):
            events.append("recomputation")
        elif message.startswith("window "):
            events.append("window")
    return events


@pytest.mark.timed
def test_solver_recomputes_before_the_windows(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Tests that a contest solve of a three-layer transformer (213 ops,
    no global round), where recomputation lowers the list schedule,
    gains by it before its first window, so that a short or loaded run
    still gets the gain, and that the windows then run too."""
    problem = load_problem(TRANSFORMER)
    caplog.set_level("DEBUG", logger="mlsched.solver")
    result = solve(problem, rules="contest", time_limit=6.0)
    events = _events(caplog)
    assert "window" in events
    assert events[0] == "recomputation"
    assert result.heuristic_objective is not None
    assert result.objective < result.heuristic_objective
    ev = evaluate(problem, result.solution, "contest")
    assert ev.valid
    assert ev.total_latency == pytest.approx(result.objective, rel=1e-12)


@pytest.mark.timed
def test_windows_search_beside_a_recomputed_initial_schedule(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Tests that a given schedule holding an op twice (which has no
    form in the column model) does not stop the windows: they search
    the best schedule of the column model, and the result is never
    worse than the given one."""
    problem = load_problem(TRANSFORMER)
    begin = list_start(problem, "contest")
    fine = GranularityOptimizer(problem, "contest", fine=True)
    found = Recomputer(problem, "contest", fine).improve(
        begin.steps, begin.objective
    )
    assert found is not None
    assert _repeats_an_op(found.solution)
    caplog.set_level("DEBUG", logger="mlsched.solver")
    result = solve(
        problem,
        rules="contest",
        time_limit=5.0,
        initial_solution=found.solution,
    )
    assert "window" in _events(caplog)
    assert result.objective <= found.objective


@pytest.mark.timed
def test_global_rounds_leave_the_recomputation_its_pass() -> None:
    """Tests that a deterministic contest solve of a one-layer llama
    block (63 ops), whose global rounds settle truncated column sets
    until its 10 s of counted work are spent, still gains by
    recomputation, which runs before them (run after them, it got no
    time and the solve returned the list schedule)."""
    problem = load_problem(generate("llama", layers=1))
    result = solve(
        problem, rules="contest", time_limit=10.0, deterministic=True
    )
    assert not result.cut_short
    assert result.heuristic_objective is not None
    assert result.objective < result.heuristic_objective
    assert result.source == "recompute"
    assert _repeats_an_op(result.solution)
    assert result.status is SolveStatus.FEASIBLE
    assert result.column_bound is None


class _FirstPassToTheEnd(Recomputer):
    """A recomputer whose first pass ignores its deadline (runs until a
    round of its moves finds nothing)."""

    passes = 0

    def improve(
        self,
        steps: Sequence[Step],
        objective: float,
        deadline: float = 1e18,
    ) -> Recomputed | None:
        type(self).passes += 1
        if type(self).passes == 1:
            deadline = 1e18
        return super().improve(steps, objective, deadline)


@pytest.mark.timed
def test_a_tie_returns_the_settled_schedule_with_its_proof(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tests that where the first recomputation pass and the global
    rounds reach the same latency (contest benchmark 9: twelve sinks
    take the list schedule's 20,411,920.6 to 18,016,588.8, and so does
    the master over its columns), the solve returns the settled
    schedule, optimal over the columns with its column bound, rather
    than the recomputed one with no proof."""
    monkeypatch.setattr(driver, "Recomputer", _FirstPassToTheEnd)
    monkeypatch.setattr(_FirstPassToTheEnd, "passes", 0)
    problem = load_problem("mlsys-2026-9")
    result = solve(problem, rules="contest", time_limit=15.0)
    assert _FirstPassToTheEnd.passes >= 1
    assert not result.cut_short
    assert result.objective == pytest.approx(18_016_588.8, rel=1e-9)
    assert result.status is SolveStatus.COLUMN_OPTIMAL
    assert result.column_bound is not None
    assert result.objective <= result.column_bound * (1 + 1e-9)
    assert result.source == "cpsat"
