"""Each inequality of the traffic-aware bound on a hand-derived instance.

docs/lower-bound.md numbers the inequalities; every test below names the
ones it exercises, derives the optimum by hand in its docstring, checks
that the bound equals it and that a schedule reaching it is valid.
"""

from __future__ import annotations

from typing import Any

import pytest
from generators import hand_problem

from mlsched import evaluate, load_problem
from mlsched.model.bounds import lower_bound
from mlsched.model.traffic import State, TrafficBound, traffic_bound


def schedule(
    subgraphs: list[list[int]],
    grains: list[list[int]],
    retain: list[list[int]] | None = None,
) -> dict[str, Any]:
    """A solution dict with raster orders."""
    return {
        "subgraphs": subgraphs,
        "granularities": grains,
        "tensors_to_retain": retain or [[] for _ in subgraphs],
        "traversal_orders": [None for _ in subgraphs],
        "subgraph_latencies": [0.0 for _ in subgraphs],
    }


# MatMul 0: T0 (128x128) @ T1 (128x512) -> T2 (128x512), K = 128;
# MatMul 1: T2 @ T3 (512x128) -> T4 (128x128), K = 512.
CHAIN = hand_problem(
    [(128, 128), (128, 512), (128, 512), (512, 128), (128, 128)],
    [("MatMul", [0, 1], 2, 1000), ("MatMul", [2, 3], 4, 1000)],
)
# Two MatMuls of K = 256 share their RHS T2 (256x128):
# MatMul 0: T0 (128x256) @ T2 -> T3; MatMul 1: T1 (128x256) @ T2 -> T4.
SHARED = hand_problem(
    [(128, 256), (128, 256), (256, 128), (128, 128), (128, 128)],
    [("MatMul", [0, 2], 3, 1000), ("MatMul", [1, 2], 4, 1000)],
)
# One MatMul of K = 128 on a 2x2 grid: T0 (256x128) @ T1 (128x256).
SQUARE = hand_problem(
    [(256, 128), (128, 256), (256, 256)],
    [("MatMul", [0, 1], 2, 10)],
)


@pytest.mark.parametrize(
    ("rules", "expected"), [("strict", 3276.8), ("contest", 1638.4)]
)
def test_graph_input_loaded_and_output_stored(
    rules: str, expected: float
) -> None:
    """Tests inequalities (1)-(3) on SPEC example 1 (Pointwise T0 -> T1
    -> T2, 128x128, costs 1000 and 100, bandwidth 10).

    Fused in one subgraph, T0 (16384 elements) must be loaded and, in
    strict, T2 (16384) stored: 32768 / 10 = 3276.8 >= compute 1100. In
    contest the last subgraph may keep T2 instead (SPEC §7 has no rule
    against it), so only T0 is moved: 1638.4. Both are reached.
    """
    p = load_problem("example1")
    assert lower_bound(p, rules) == pytest.approx(expected, rel=1e-9)
    retain = [[2]] if rules == "contest" else [[]]
    ev = evaluate(p, schedule([[0, 1]], [[128, 128, 1]], retain), rules)
    assert ev.valid, ev.message
    assert ev.total_latency == pytest.approx(expected, rel=1e-9)


def test_head_reloads_its_block_and_tail_its_strips() -> None:
    """Tests inequalities (4), (6) and the exact fusion edge (8) on
    CHAIN in strict (K = 512 > 128: several k-steps everywhere).

    Fused as head + tail on T4's one tile: the head's LHS T0 row strip
    (16384), its RHS (-,-,j) blocks 128 x 512 (65536, once per tile),
    the tail's RHS T3 strips 512 x 128 (65536) and T4 stored (16384):
    163840 / 10 = 16384. Apart, T2 (65536) is stored and reloaded and
    MatMul 1 alone reloads its 512-deep slices, which costs more. So the
    optimum is 16384, and the bound finds it.
    """
    p = load_problem(CHAIN)
    assert lower_bound(p, "strict") == pytest.approx(16384.0, rel=1e-9)
    ev = evaluate(p, schedule([[0, 1]], [[128, 128, 128]]), "strict")
    assert ev.valid, ev.message
    assert ev.total_latency == pytest.approx(16384.0, rel=1e-9)


def test_shared_input_is_charged_to_each_apart_reader() -> None:
    """Tests inequality (7) on SHARED in strict: both MatMuls have K =
    256 > 128, so every subgraph holding one has several k-steps and at
    most one head and one tail: the two never meet, and each pays T2.

    Each alone on its one 128x128 tile loads its LHS 128x256 (32768),
    T2 (32768) and stores 16384: 81920; the two make 163840 / 10 =
    16384 (compute 2000). [0], [1] at [128, 128, 128] reach it.
    Charging T2 to one reader only would give 13107.2.
    """
    p = load_problem(SHARED)
    assert lower_bound(p, "strict") == pytest.approx(16384.0, rel=1e-9)
    ev = evaluate(p, schedule([[0], [1]], [[128, 128, 128]] * 2), "strict")
    assert ev.valid, ev.message
    assert ev.total_latency == pytest.approx(16384.0, rel=1e-9)


@pytest.mark.parametrize(
    ("rules", "snake"), [("strict", 14745.6), ("contest", 8192.0)]
)
def test_one_step_matmul_reloads_a_strip_per_tile(
    rules: str, snake: float
) -> None:
    """Tests inequality (5) on SQUARE (K = 128: one k-step possible).

    At 128x128 tiles the grid is 2x2: each of the 2 row strips of T0 and
    the 2 column strips of T1 (16384 each) loads once, and of the 3
    later tiles each shares its row or its column with the one before,
    never both: one strip more, 5 x 16384 = 81920 (the term X counts
    that strip per unit of K: (2-1) x (2-1) x 128). Plus T2 stored
    (65536) in strict: 147456 / 10 = 14745.6; in contest the last
    subgraph keeps T2: 8192. A snake order reaches both, so the bound
    (which also sees odd tile sizes, where (5) is weaker) is below.
    """
    p = load_problem(SQUARE)
    tb = TrafficBound(p, rules)
    grid = tb.grid((256, 256))
    assert grid.x[127, 127] == 128.0  # h = w = 128 (0-based index)
    assert grid.x[63, 127] == 3 * 64.0  # h = 64: 4 x 2 grid, 3 extra
    sol = schedule(
        [[0]], [[128, 128, 128]], [[2]] if rules == "contest" else None
    )
    sol["traversal_orders"] = [[0, 1, 3, 2]]
    ev = evaluate(p, sol, rules)
    assert ev.valid, ev.message
    assert ev.total_latency == pytest.approx(snake, rel=1e-9)
    assert lower_bound(p, rules) <= snake


def test_theta_combination_reaches_a_compute_bound_optimum() -> None:
    """Tests inequality (9) with theta = 1 on SPEC example 3 (three
    Pointwise ops of cost 1500 on one 128x128 tile): the compute part
    alone gives 4500, the optimum (one fused subgraph)."""
    p = load_problem("example3")
    for rules in ("strict", "contest"):
        assert traffic_bound(p, rules) == pytest.approx(4500.0, rel=1e-9)


# Pointwise 0: T0 (128x512) -> T1 (128x512), cost 10000; MatMul 1:
# T1 @ T2 (512x128) -> T3 (128x128), K = 512, cost 10000; capacity 90000.
FUSED = hand_problem(
    [(128, 512), (128, 512), (512, 128), (128, 128)],
    [("Pointwise", [0], 1, 10000), ("MatMul", [1, 2], 3, 10000)],
    capacity=90_000,
)
# FUSED with a second Pointwise op (cost 10000) between the two.
LONGER = hand_problem(
    [(128, 512), (128, 512), (128, 512), (512, 128), (128, 128)],
    [
        ("Pointwise", [0], 1, 10000),
        ("Pointwise", [1], 2, 10000),
        ("MatMul", [2, 3], 4, 10000),
    ],
    capacity=90_000,
)


def test_fused_ops_share_working_set_and_tile_count() -> None:
    """Tests inequalities (13) and (16) on FUSED in contest.

    Apart, op 0 alone runs T1's 4 native tiles: compute 40000 already.
    Fused on T3's one 128x128 grid (one k-step: k = 512; several would
    need w >= 512), the working set is T0's slice h*w, T2's 512*w and
    T3's h*w: 98304 > 90000 at 128x128, so the subgraph has at least 2
    tiles and each op computes twice: 40000, reached at [64, 128, 512].
    So the optimum is 40000. Without (13) op 0 fits one tile on its own
    terms; without (16) op 1 does: each would make the bound smaller.
    """
    p = load_problem(FUSED)
    assert lower_bound(p, "contest") == pytest.approx(40000.0, rel=1e-9)
    ev = evaluate(p, schedule([[0, 1]], [[64, 128, 512]]), "contest")
    assert ev.valid, ev.message
    assert ev.total_latency == pytest.approx(40000.0, rel=1e-9)


def test_uncharged_appearances_follow_the_chain_up() -> None:
    """Tests inequality (14) on LONGER in contest: op 0 with T1
    ephemeral on T4's 128x128 grid, one k-step, while its only reader's
    charged appearance loads T1. That subgraph then holds another
    appearance of op 1, which with T2 ephemeral holds one of op 2.

    At theta = 1: op 1's appearance alone fits one tile (compute
    10000); op 2's working set there is T0's h*w (op 0), T3's 512*w
    and T4's h*w: 98304 > 90000 at 128x128, so 2 tiles: 20000. Up one
    edge the charge is 10000, up two 30000.
    """
    tb = TrafficBound(load_problem(LONGER), "contest")
    (x,) = [
        x
        for x in tb.costed(0)
        if x.cfg.outs[0] is State.EPH
        and x.cfg.grid == (128, 128)
        and not x.cfg.many
    ]
    label = (x.cfg.grid, x.cfg.many, x.terms.shared())
    assert tb._uncharged(1, 1, label, 0)[-1] == pytest.approx(10000.0)
    assert tb._uncharged(1, 1, label, 1)[-1] == pytest.approx(30000.0)


def test_several_k_steps_standalone_pays_shared_input_in_full() -> None:
    """Tests inequality (15) on SHARED (costs 5000, capacity 50000) in
    contest. With one reader charged all of T2 and the other none, the
    bound is the compute, 2 x 5000 = 10000 (theta = 1). With several
    k-steps each MatMul is its subgraph's only one and pays T2 in full;
    one k-step needs h*256 + 256*w + h*w <= 50000, at least 4 tiles
    (20000 compute), so the bound rises above 10000.

    The optimum is 13107.2. Fused, the two MatMuls need one k-step (at
    most one standalone with several), so 2*h*256 + 2*256*w + 2*h*w <=
    50000: h = w = 32 at best, 16 tiles, compute 160000. Apart, one
    tile at [128, 128, 256] needs 81920 > 50000 and two or more tiles
    cost 2 x 5000 compute or more with one k-step, so each MatMul runs
    one tile with several k-steps: it loads all of its LHS (32768) and
    T2 (32768), 6553.6 >= 5000, whatever k. Keeping T3 into the next
    subgraph and T4 at the end stores nothing (contest), so [0], [1] at
    [128, 128, 64] with those retentions reach 2 x 6553.6 = 13107.2.
    """
    p = load_problem(
        {**SHARED, "base_costs": [5000, 5000], "fast_memory_capacity": 50_000}
    )
    tb = TrafficBound(p, "contest")
    many = [x for x in tb.costed(1) if x.cfg.many]
    assert many and all(x.terms.m_nh > 0 for x in many)  # T2 charged
    sol = schedule([[0], [1]], [[128, 128, 64]] * 2, [[3], [4]])
    ev = evaluate(p, sol, "contest")
    assert ev.valid, ev.message
    assert ev.total_latency == pytest.approx(13107.2, rel=1e-9)
    assert 10000.0 < lower_bound(p, "contest") <= ev.total_latency


# MatMul 0: T0 (128x256) @ T1 (256x512) -> T2 (128x512), K = 256, cost
# 1000; Pointwise 1: T2 -> T3 (128x512), cost 10000; capacity 49152.
STEPPED = hand_problem(
    [(128, 256), (256, 512), (128, 512), (128, 512)],
    [("MatMul", [0, 1], 2, 1000), ("Pointwise", [2], 3, 10000)],
    capacity=49_152,
)


def test_k_step_zero_and_later_steps_weigh_apart() -> None:
    """Tests inequality (17) on STEPPED in strict: one weight for the
    cells of k-step 0, another for the later k-steps.

    K = 256 > k_native, so the MatMul runs several k-steps (k <= 128);
    T2 (65536) cannot be kept (it would fill the next working set).
    Fused on 4 tiles of 128x128 (the working set h*k + k*w + h*w fits
    49152 at k = 128), each tile's cell 0 computes the Pointwise op
    (10000) and 1000 k / 256 of the MatMul while loading 25.6 k; each
    later cell is memory-bound (25.6 per unit of k against 3.9 of
    compute), the last also stores T3's tile (1638.4). Per tile 10000
    + 3.9 k + 25.6 (256 - k) + 1638.4, least at k = 128: 15415.2, so
    61660.8 in all. Apart, [0] moves 81920 per tile (32768) and [1]
    computes 40000: 72768. More tiles add 10000 of compute each. So
    the optimum is 61660.8, at [[0, 1]] with [128, 128, 128].

    One theta for every cell gives 44000 (theta = 1, the compute).
    Weight 1 on k-step 0 and 0 on the later ones: the Pointwise op
    40000 + 6553.6 (its stores, at the last k-step), the MatMul at
    its step-0 share f <= 128 / 256: 4000 f + 26214.4 (1 - f) >=
    15107.2; sum 61660.8, the optimum.
    """
    p = load_problem(STEPPED)
    assert lower_bound(p, "strict") == pytest.approx(61660.8, rel=1e-9)
    ev = evaluate(p, schedule([[0, 1]], [[128, 128, 128]]), "strict")
    assert ev.valid, ev.message
    assert ev.total_latency == pytest.approx(61660.8, rel=1e-9)


# MatMul 0: T0 (128x256) @ T1 (256x512) -> T4 (128x512); MatMul 1:
# T2 (128x256) @ T3 (256x512) -> T5 (128x512); both K = 256, cost 100;
# Pointwise 2: T4, T5 -> T6 (128x512), cost 100; capacity 65536.
TWO_MATMULS = hand_problem(
    [
        (128, 256),
        (256, 512),
        (128, 256),
        (256, 512),
        (128, 512),
        (128, 512),
        (128, 512),
    ],
    [
        ("MatMul", [0, 1], 4, 100),
        ("MatMul", [2, 3], 5, 100),
        ("Pointwise", [4, 5], 6, 100),
    ],
    capacity=65_536,
)


def test_two_standalone_matmuls_never_share_a_subgraph() -> None:
    """Tests inequalities (18) and (20) on TWO_MATMULS in strict.

    K = 256 > k_native: each MatMul runs several k-steps, so a subgraph
    holds at most one of them (neither reads the other's output), and
    T4, T5 (65536 = the capacity) cannot be kept. So the Pointwise op
    reads at most one of them ephemerally: the other is stored and
    loaded, 2 x 6553.6. Each MatMul alone on its 4 tiles of 128x128
    loads a 128x256 LHS strip and a 256x128 RHS strip per tile,
    26214.4 (compute 400: memory-bound), and T6 is stored, 6553.6:
    the optimum is 2 x 26214.4 + 13107.2 + 6553.6 = 72089.6, at [0]
    then [1, 2] with [128, 128, 128] (working set 4 x 16384).

    The bound charges the load of the second output (6553.6) but not
    its store: its producer's charged appearance may keep it ephemeral
    beside an appearance of op 2 charged to nobody (§5). That
    appearance stores T6 (6553.6, a graph output); op 2 has two exact
    children, which may share it, so each pays half (inequality (20)).
    So the bound is 2 x 26214.4 + 6553.6 + 6553.6 + 3276.8 = 68812.8;
    with both outputs ephemeral beside op 2, as before (18), it was
    58982.4, and without (20) 65536. The alone bound's path surplus
    (docs/lower-bound.md §1e) charges that store too, so
    ``lower_bound`` meets the optimum.
    """
    p = load_problem(TWO_MATMULS)
    assert traffic_bound(p, "strict") == pytest.approx(68812.8, rel=1e-9)
    assert lower_bound(p, "strict") == pytest.approx(72089.6, rel=1e-9)
    sol = schedule([[0], [1, 2]], [[128, 128, 128]] * 2)
    ev = evaluate(p, sol, "strict")
    assert ev.valid, ev.message
    assert ev.total_latency == pytest.approx(72089.6, rel=1e-9)


# Pointwise 0: T0 (128x256) -> T1 (128x256); MatMul 1: T1 @ T2 (256x128)
# -> T3 (128x128), K = 256; Pointwise 2: T1 -> T4 (128x256); costs 10,
# capacity 32768.
NEVER_EPHEMERAL = hand_problem(
    [(128, 256), (128, 256), (256, 128), (128, 128), (128, 256)],
    [
        ("Pointwise", [0], 1, 10),
        ("MatMul", [1, 2], 3, 10),
        ("Pointwise", [1], 4, 10),
    ],
    capacity=32_768,
)


def test_a_tensor_with_an_unfusable_reader_is_never_ephemeral() -> None:
    """Tests inequality (19) on NEVER_EPHEMERAL in strict.

    In strict op 0 and MatMul 1 never share a subgraph: K = 256 exceeds
    k_native (so several k-steps) and w_native (a Pointwise LHS then
    needs w >= K). So T1 is ephemeral nowhere, not even beside op 2
    (SPEC §4 item 6 would need op 1 to meet op 0), and it cannot be
    kept (32768 = the capacity): op 0 stores it, op 1 and op 2 load it.
    Memory-bound (compute 10 per tile): op 0 moves T0 and T1, 6553.6;
    op 1 its one tile's LHS 128x256 and RHS 256x128 strips, 6553.6,
    and T3, 1638.4; op 2 moves T1 and T4, 6553.6. The optimum is
    21299.2 at [0], [1], [2]. Letting op 2 read T1 ephemerally, as
    before (19), drops T1's store and op 2's load: 14745.6.
    """
    p = load_problem(NEVER_EPHEMERAL)
    assert lower_bound(p, "strict") == pytest.approx(21299.2, rel=1e-9)
    sol = schedule(
        [[0], [1], [2]], [[128, 128, 1], [128, 128, 64], [128, 128, 1]]
    )
    ev = evaluate(p, sol, "strict")
    assert ev.valid, ev.message
    assert ev.total_latency == pytest.approx(21299.2, rel=1e-9)


# MatMul 0: T0 (3x2) @ T1 (2x2) -> T2 (3x2); MatMul 1: T2 @ T3 (2x1) ->
# T4 (3x1); native 3x3, capacity 4, bandwidth 1. T2 (6 elements) is
# above the capacity, yet a last subgraph may keep it: nothing follows.
READ_BEFORE_MADE = {
    "widths": [2, 2, 2, 1, 1],
    "heights": [3, 2, 3, 2, 3],
    "inputs": [[0, 1], [2, 3]],
    "outputs": [[2], [4]],
    "base_costs": [3, 5],
    "op_types": ["MatMul", "MatMul"],
    "fast_memory_capacity": 4,
    "slow_memory_bandwidth": 1,
    "native_granularity": [3, 3],
}


def test_a_tensor_kept_by_the_last_subgraph_may_be_read_before() -> None:
    """Tests that the contest bound holds for a schedule that reads a
    tensor before it is made and keeps it in the last subgraph.

    SPEC §8 item 5 (an input read from slow memory was written there) is
    strict only, so [[1], [0]] with T2 retained by the last subgraph is
    contest-valid (40.5) and never stores T2; strict rejects it. The
    bound charged MatMul 0 that store, as if a tensor of at least the
    capacity were never kept, and gave 42.0; it now subtracts the last
    subgraph's possible saving (12) over every such tensor.
    """
    p = load_problem(READ_BEFORE_MADE)
    sol = schedule([[1], [0]], [[1, 1, 1], [1, 1, 1]], [[], [2]])
    assert not evaluate(p, sol, "strict").valid
    ev = evaluate(p, sol, "contest")
    assert ev.valid, ev.message
    assert ev.total_latency == pytest.approx(40.5)
    assert lower_bound(p, "contest") <= ev.total_latency * (1 + 1e-9)
