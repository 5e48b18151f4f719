"""The worked examples of SPEC §9, one test per table row.

All examples have bandwidth 10 and native granularity [128, 128]. Every
expected number is re-derived by hand in the test's comment; "x/10" is the
transfer time of x elements. Each row is checked in both rule profiles
(no row breaks a strict-only rule).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mlsched import Evaluation, evaluate, load_problem, subgraph_cost

PROFILES = ("contest", "strict")


def schedule(
    subgraphs: Sequence[Sequence[int]],
    grains: Sequence[Sequence[int]],
    retain: Sequence[Sequence[int]] | None = None,
    orders: Sequence[Sequence[int] | None] | None = None,
) -> dict[str, list[object]]:
    """A contest solution dict (claimed latencies 0: only a warning)."""
    n = len(subgraphs)
    return {
        "subgraphs": [list(s) for s in subgraphs],
        "granularities": [list(g) for g in grains],
        "tensors_to_retain": [list(r) for r in retain or [[]] * n],
        "traversal_orders": [
            None if o is None else list(o) for o in orders or [None] * n
        ],
        "subgraph_latencies": [0.0] * n,
    }


def check_latencies(
    problem: str, solution: dict[str, list[object]], expected: list[float]
) -> None:
    """Evaluate in both profiles and compare to the expected latencies."""
    for rules in PROFILES:
        ev = evaluate(problem, solution, rules=rules)
        assert ev.valid, (rules, ev.category, ev.message)
        assert len(ev.subgraph_latencies) == len(expected)
        for got, want in zip(ev.subgraph_latencies, expected, strict=True):
            assert math.isclose(got, want, rel_tol=1e-9), (rules, got, want)
        assert math.isclose(ev.total_latency, sum(expected), rel_tol=1e-9)


def check_out_of_memory(
    problem: str, solution: dict[str, list[object]]
) -> None:
    """Evaluate in both profiles and expect an out_of_memory verdict."""
    for rules in PROFILES:
        ev: Evaluation = evaluate(problem, solution, rules=rules)
        assert not ev.valid
        assert ev.category == "out_of_memory", (rules, ev.message)


# example1: T0 -op0 (PW, 1000)-> T1 -op1 (PW, 100)-> T2, all 128x128.


def test_example1_two_subgraphs() -> None:
    """Tests that example1 with one op per subgraph costs 6553.6."""
    # Each subgraph: load 16384 + store 16384 = 32768/10 = 3276.8 > compute
    # (1000 resp. 100), so 3276.8 + 3276.8 = 6553.6.
    sol = schedule([[0], [1]], [[128, 128, 1]] * 2)
    check_latencies("example1", sol, [3276.8, 3276.8])


def test_example1_fused() -> None:
    """Tests that example1 fused at native size costs 3276.8."""
    # T1 is ephemeral: load T0 16384 + store T2 16384 = 3276.8 > 1100.
    sol = schedule([[0, 1]], [[128, 128, 1]])
    check_latencies("example1", sol, [3276.8])


def test_example1_fused_small_tiles() -> None:
    """Tests that example1 fused at 64x64 is compute-bound at 4400."""
    # 4 tiles; each loads 64*64 = 4096 and stores 4096: 819.2 < compute
    # 1000 + 100 (a sub-native tile pays in full), so 4 * 1100 = 4400.
    sol = schedule([[0, 1]], [[64, 64, 1]])
    check_latencies("example1", sol, [4400.0])


# example2: the same chain at 256x256.


def test_example2_two_subgraphs() -> None:
    """Tests that example2 with one op per subgraph costs 26214.4."""
    # 2x2 tiles of 128; each tile: load 16384 + store 16384 = 3276.8 >
    # compute, so 4 * 3276.8 = 13107.2 per subgraph.
    sol = schedule([[0], [1]], [[128, 128, 1]] * 2)
    check_latencies("example2", sol, [13107.2, 13107.2])


def test_example2_fused() -> None:
    """Tests that example2 fused costs 13107.2."""
    # 4 tiles, each load T0 16384 + store T2 16384 = 3276.8 > 1100.
    sol = schedule([[0, 1]], [[128, 128, 1]])
    check_latencies("example2", sol, [13107.2])


# example3: op0: T0 -> T1, op1: T1 -> T2, op2: (T1, T2) -> T3; all PW 1500,
# 128x128, capacity 50000.


def test_example3_three_subgraphs() -> None:
    """Tests that example3 with one op per subgraph costs 11468.8."""
    # op0, op1: load 16384 + store 16384 = 3276.8 > 1500; op2 loads T1 and
    # T2 and stores T3: 49152/10 = 4915.2. Total 11468.8.
    sol = schedule([[0], [1], [2]], [[128, 128, 1]] * 3)
    check_latencies("example3", sol, [3276.8, 3276.8, 4915.2])


def test_example3_recompute_with_retention() -> None:
    """Tests that example3 as [[0,1],[0,2]] retaining T2 costs 6276.8."""
    # s0: T1 ephemeral, T2 retained (not written): load T0 16384 = 1638.4
    # < compute 3000 -> 3000. s1 recomputes T1 (ephemeral), T2 is free:
    # load T0 16384 + store T3 16384 = 3276.8 > 3000. Total 6276.8.
    sol = schedule([[0, 1], [0, 2]], [[128, 128, 1]] * 2, retain=[[2], []])
    check_latencies("example3", sol, [3000.0, 3276.8])


def test_example3_retain_then_fuse() -> None:
    """Tests that example3 as [[0],[1,2]] retaining T1 costs 4638.4."""
    # s0: load T0 16384 = 1638.4 > 1500, T1 retained (no store). s1: T1
    # free, T2 ephemeral, store T3 16384 = 1638.4 < compute 3000 -> 3000.
    # Total 4638.4.
    sol = schedule([[0], [1, 2]], [[128, 128, 1]] * 2, retain=[[1], []])
    check_latencies("example3", sol, [1638.4, 3000.0])


# example4: op0 = T0 @ T1 -> T2 (MatMul 1500), 128x128, capacity 25000.


def test_example4_raster() -> None:
    """Tests that example4 at [64,64,128] in raster order costs 7096."""
    # 2x2 tiles, nk = 1, k_eff = K = 128. LHS strip 64*128 = 8192, RHS
    # strip 8192, store 4096. Tile (0,0): 20480 -> 2048; (0,1): LHS row
    # reused, 12288 -> 1228.8 < 1500; (1,0): both new -> 2048; (1,1): 1500.
    # 2048 + 1500 + 2048 + 1500 = 7096.
    sol = schedule([[0]], [[64, 64, 128]])
    check_latencies("example4", sol, [7096.0])


def test_example4_snake_order() -> None:
    """Tests that example4 in the snake order [0,1,3,2] costs 6548."""
    # Tile 0: 2048; 1 (0,1): LHS reused -> 1500; 3 (1,1): RHS column 1
    # reused -> 1500; 2 (1,0): LHS row 1 reused -> 1500. 2048 + 3*1500.
    sol = schedule([[0]], [[64, 64, 128]], orders=[[0, 1, 3, 2]])
    check_latencies("example4", sol, [6548.0])


def test_example4_native_out_of_memory() -> None:
    """Tests that example4 at [128,128,128] is out of memory."""
    # Working set 3 * 16384 = 49152 > 25000.
    sol = schedule([[0]], [[128, 128, 128]])
    check_out_of_memory("example4", sol)


# example5: op0 = T0 @ T1 -> T3, op1 = T3 @ T2 -> T4 (MatMul 2000 each),
# 128x128, capacity 45000.


def test_example5_full_k_out_of_memory() -> None:
    """Tests that example5 fused at [128,128,128] is out of memory."""
    # op0 is an LHS-head, op1 an LHS-tail, K_up = K_slicing = 128: T0
    # 128*128 + T1 128*128 + T2 128*128 + T4 128*128 = 65536 > 45000.
    sol = schedule([[0, 1]], [[128, 128, 128]])
    check_out_of_memory("example5", sol)


def test_example5_fused_k32() -> None:
    """Tests that example5 fused at [128,128,32] costs 6915.2."""
    # SPEC §9 step by step: 2457.6 + 1000 + 1000 + 2457.6 = 6915.2.
    sol = schedule([[0, 1]], [[128, 128, 32]])
    check_latencies("example5", sol, [6915.2])


def test_example5_two_subgraphs_k32() -> None:
    """Tests that example5 unfused at [128,128,32] costs 9830.4."""
    # Each op alone: nk = 4, each step loads 128*32 + 32*128 = 8192 ->
    # 819.2 > compute 2000*32/128 = 500; the last step also stores 16384
    # -> 2457.6. 3*819.2 + 2457.6 = 4915.2 per subgraph.
    sol = schedule([[0], [1]], [[128, 128, 32]] * 2)
    check_latencies("example5", sol, [4915.2, 4915.2])


def test_example5_step_by_step() -> None:
    """Tests that example5 fused at [128,128,32] follows the SPEC §9
    breakdown: working set 40,960, 4 k-steps, per-step latencies."""
    cost = subgraph_cost(load_problem("example5"), [0, 1], [128, 128, 32])
    # T0 row strip 128*128 + T1 k-slice 128*32 + T2 k-slice 32*128 + T4
    # 128*128 = 16384 + 4096 + 4096 + 16384 = 40960 <= 45000.
    assert cost.working_set == 40_960
    assert cost.tiles == (1, 1)
    assert cost.k_steps == 4
    # Step 0: 24576 elements -> 2457.6 > compute 1000 (memory-bound);
    # steps 1-2: 8192 -> 819.2 < 1000 (compute-bound); step 3: 8192 +
    # 16384 stored -> 2457.6 (memory-bound).
    assert (cost.compute_cells, cost.memory_cells) == (2, 2)
    assert math.isclose(cost.compute_time, 4 * 1000.0, rel_tol=1e-12)
    assert math.isclose(cost.memory_time, 2 * 2457.6 + 2 * 819.2)
    assert math.isclose(cost.latency, 6915.2, rel_tol=1e-9)


# example_problem: T0 -op0 (PW, 100)-> T1 -op1 (PW, 10)-> T2, 128x128,
# capacity 20000.


def test_example_problem_native_out_of_memory() -> None:
    """Tests that example_problem fused at [128,128,1] is out of
    memory."""
    # Working set: T0 16384 + T2 16384 = 32768 > 20000.
    sol = schedule([[0, 1]], [[128, 128, 1]])
    check_out_of_memory("example_problem", sol)


def test_example_problem_half_height() -> None:
    """Tests that example_problem fused at [128,64,1] costs 3276.8."""
    # 1x2 tiles; working set 8192 + 8192 = 16384 fits. Each tile loads
    # 8192 and stores 8192 -> 1638.4 > compute 110. 2 * 1638.4 = 3276.8.
    sol = schedule([[0, 1]], [[128, 64, 1]])
    check_latencies("example_problem", sol, [3276.8])
