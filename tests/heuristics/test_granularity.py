"""GranularityOptimizer: best [w, h, k] and traversal of one subgraph.

The SPEC §9 examples all have bandwidth 10 and native [128, 128]; "x/10"
below is the transfer time of x elements. A 128x128 tensor is 16384
elements.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest
from generators import random_problem

from mlsched import generate, load_problem
from mlsched.heuristics import GranularityOptimizer, granularity
from mlsched.heuristics.granularity import (
    count_side,
    exact_counts,
    fitting_k,
    fitting_side,
    halvings,
)
from mlsched.model import (
    TRAVERSALS,
    Grain,
    SubgraphView,
    subgraph_violation,
    view_cost,
)

RULES = ("strict", "contest")


def matmul_problem(
    height: int,
    k_dim: int,
    width: int,
    capacity: int,
    native: tuple[int, int] = (128, 128),
    base_cost: int = 100,
) -> dict[str, Any]:
    """One MatMul: LHS height x k_dim, RHS k_dim x width, bandwidth 10."""
    return {
        "widths": [k_dim, width, width],
        "heights": [height, k_dim, height],
        "inputs": [[0, 1]],
        "outputs": [[2]],
        "base_costs": [base_cost],
        "op_types": ["MatMul"],
        "fast_memory_capacity": capacity,
        "slow_memory_bandwidth": 10,
        "native_granularity": list(native),
    }


def best_latency(
    name: str,
    ops: list[int],
    rules: str,
    retain_in: tuple[int, ...] = (),
    retain_out: tuple[int, ...] = (),
) -> float:
    """The optimizer's best latency for ``ops`` of a bundled problem."""
    optimizer = GranularityOptimizer(load_problem(name), rules)
    choice = optimizer.best(ops, retain_in, retain_out)
    assert choice is not None
    return float(choice.latency)


@pytest.mark.parametrize("rules", RULES)
@pytest.mark.parametrize(
    ("name", "ops", "expected"),
    [
        # T0 in + T2 out = 32768/10 = 3276.8 > compute 1100: I/O floor.
        ("example1", [0, 1], 3276.8),
        # Same at 256x256 (4 tiles): 2 x 65536/10 = 13107.2, I/O floor.
        ("example2", [0, 1], 13107.2),
        # [128,64,1]: 2 tiles of 2 x 8192/10 = 1638.4 > 110: I/O floor.
        ("example_problem", [0, 1], 3276.8),
        # All three fused at [128,128,1]: loads T0, stores T3, 3276.8 <
        # compute 3 x 1500 = 4500, which no tiling can undercut.
        ("example3", [0, 1, 2], 4500.0),
        # [128,128,32]: nk = 4, one tile; steps 0-2 load 2 x 128*32 =
        # 8192 -> 819.2 > compute 375; step 3 also stores 16384 ->
        # 2457.6. 3 x 819.2 + 2457.6 = 4915.2 = (T0+T1+T2)/10, the I/O
        # floor, well below SPEC's 6548 for [64,64,128] with a snake.
        ("example4", [0], 4915.2),
    ],
)
def test_examples_reach_floor(
    name: str, ops: list[int], expected: float, rules: str
) -> None:
    """Tests that the best choice hits a hand-derived latency floor."""
    assert math.isclose(best_latency(name, ops, rules), expected, rel_tol=1e-9)


@pytest.mark.parametrize("rules", RULES)
def test_example5_beats_spec(rules: str) -> None:
    """Tests that the fused MatMul chain of example5 costs <= 6915.2.

    SPEC §9 walks [128,128,32] through to 6915.2; the search tries it,
    so it can only do as well or better. Fusing must also beat the two
    separate subgraphs (2 x 4915.2 = 9830.4).
    """
    fused = best_latency("example5", [0, 1], rules)
    assert fused <= 6915.2 * (1 + 1e-9)
    apart = best_latency("example5", [0], rules) + best_latency(
        "example5", [1], rules
    )
    assert apart <= 9830.4 * (1 + 1e-9)
    assert fused < apart


@pytest.mark.parametrize("rules", RULES)
@pytest.mark.parametrize(
    ("ops", "retain_in", "retain_out", "spec"),
    [
        # SPEC row [[0,1],[0,2]] retain [[2],[]]: 3000 and 3276.8.
        ([0, 1], (), (2,), 3000.0),
        ([0, 2], (2,), (), 3276.8),
        # SPEC row [[0],[1,2]] retain [[1],[]]: 1638.4 and 3000.
        ([0], (), (1,), 1638.4),
        ([1, 2], (1,), (), 3000.0),
    ],
)
def test_example3_retention_rows(
    ops: list[int],
    retain_in: tuple[int, ...],
    retain_out: tuple[int, ...],
    spec: float,
    rules: str,
) -> None:
    """Tests the subgraphs of example3's SPEC schedules with retention.

    Each SPEC latency is at [128,128,1], one tile: the best choice must
    match or beat it. All four are in fact floors (one tile, and either
    the compute or the unavoidable transfers bind), so they are equal.
    """
    got = best_latency("example3", ops, rules, retain_in, retain_out)
    assert math.isclose(got, spec, rel_tol=1e-9)


@pytest.mark.parametrize("rules", RULES)
def test_none_when_nothing_fits(rules: str) -> None:
    """Tests that a Pointwise op needs 2 elements even at 1x1 tiles.

    With capacity 1 its input slice plus its output slice (1 + 1) never
    fit; with capacity 2 exactly the 1x1 tile fits: 128 x 128 = 16384
    tiles, each max(1000, 2/10) = 1000, so 16384000.
    """
    tiny = load_problem("example1").model_dump()
    tiny["fast_memory_capacity"] = 1
    assert GranularityOptimizer(load_problem(tiny), rules).best([0]) is None
    tiny["fast_memory_capacity"] = 2
    choice = GranularityOptimizer(load_problem(tiny), rules).best([0])
    assert choice is not None
    assert choice.grain.as_list() == [1, 1, 1]
    assert math.isclose(choice.latency, 16384000.0, rel_tol=1e-9)


@pytest.mark.parametrize("rules", RULES)
@pytest.mark.parametrize(
    ("problem", "ops", "category"),
    [
        # op0's output T2 is read as LHS by op1 and as RHS by op2: the
        # fusion rule forbids it at every granularity.
        (
            {
                "widths": [64, 64, 64, 64, 64],
                "heights": [64, 64, 64, 64, 64],
                "inputs": [[0, 1], [2, 0], [1, 2]],
                "outputs": [[2], [3], [4]],
                "base_costs": [100, 100, 100],
                "op_types": ["MatMul", "MatMul", "MatMul"],
                "fast_memory_capacity": 10**6,
                "slow_memory_bandwidth": 10,
                "native_granularity": [128, 128],
            },
            [0, 1, 2],
            "fusion_rule",
        ),
        # Ops sharing T0 whose outputs differ: T1 is 64x64, T3 64x32.
        (
            {
                "widths": [64, 64, 32, 32],
                "heights": [64, 64, 64, 64],
                "inputs": [[0], [0, 2]],
                "outputs": [[1], [3]],
                "base_costs": [100, 100],
                "op_types": ["Pointwise", "MatMul"],
                "fast_memory_capacity": 10**6,
                "slow_memory_bandwidth": 10,
                "native_granularity": [128, 128],
            },
            [0, 1],
            "output_shape_mismatch",
        ),
    ],
)
def test_none_for_unfusable_groups(
    problem: dict[str, Any], ops: list[int], category: str, rules: str
) -> None:
    """Tests that groups no granularity can make valid give None.

    Each op alone fits; the group breaks a rule whatever the grain (the
    evaluator names it at the native [64, 64, 64]).
    """
    p = load_problem(problem)
    optimizer = GranularityOptimizer(p, rules)
    assert all(optimizer.best([o]) is not None for o in ops)
    assert optimizer.best(ops) is None
    broken = subgraph_violation(SubgraphView(p, ops), Grain(64, 64, 64))
    assert broken is not None and broken[0] == category


def test_disconnected_group_strict_only() -> None:
    """Tests that two unlinked ops fuse in contest but not in strict.

    Pointwise T0 -> T1 and T2 -> T3, all 64x64: strict rejects the
    disconnected pair; contest runs it as one tile loading T0 and T2
    and storing T1 and T3: 4 x 4096 / 10 = 1638.4 > compute 200.
    """
    problem = load_problem(
        {
            "widths": [64, 64, 64, 64],
            "heights": [64, 64, 64, 64],
            "inputs": [[0], [2]],
            "outputs": [[1], [3]],
            "base_costs": [100, 100],
            "op_types": ["Pointwise", "Pointwise"],
            "fast_memory_capacity": 10**6,
            "slow_memory_bandwidth": 10,
            "native_granularity": [128, 128],
        }
    )
    assert GranularityOptimizer(problem, "strict").best([0, 1]) is None
    choice = GranularityOptimizer(problem, "contest").best([0, 1])
    assert choice is not None
    assert math.isclose(choice.latency, 1638.4, rel_tol=1e-9)


def test_contest_k_above_native_wins() -> None:
    """Tests that contest picks k = K = 512 > 128 when reuse pays.

    LHS 128x512 (HxK), RHS 512x256, out 128x256: two 128x128 tiles in
    one row, base cost 100, memory-bound throughout.

    contest [128,128,512], nk = 1: tile 0 loads the LHS strip 65536 and
    an RHS strip 65536 and stores 16384 -> 14745.6; tile 1 reuses the
    LHS strip: 65536 + 16384 -> 8192. Total 22937.6 (working set 65536
    + 65536 + 16384 = 147456 <= 200000).

    strict, k <= 128, nk >= 4: k-step keys change every step, so each
    tile loads all of its LHS strip and RHS strip again: 2 x (131072 +
    16384) / 10 = 29491.2 whatever k is.
    """
    problem = load_problem(matmul_problem(128, 512, 256, 200_000))
    contest = GranularityOptimizer(problem, "contest").best([0])
    strict = GranularityOptimizer(problem, "strict").best([0])
    assert contest is not None and strict is not None
    assert contest.grain.as_list() == [128, 128, 512]
    assert math.isclose(contest.latency, 22937.6, rel_tol=1e-9)
    assert strict.grain.k <= 128
    assert math.isclose(strict.latency, 29491.2, rel_tol=1e-9)


def test_snake_traversal_saves_a_strip() -> None:
    """Tests that a snake order is chosen when it saves a reload.

    MatMul 256x256 by 256x256, base cost 100, memory-bound. contest
    [128,128,256], nk = 1, 2x2 tiles, strips of 128*256 = 32768:
    raster loads L0 R0, R1, L1 R0, R1 = 2 LHS + 4 RHS strips; snake
    visits (0,0) (0,1) (1,1) (1,0) and reuses R1 across the turn: 2 + 3.
    With 4 stored 16384 tiles: raster (6 x 32768 + 65536) / 10 =
    26214.4, snake (5 x 32768 + 65536) / 10 = 22937.6. Working set 2 x
    32768 + 16384 = 81920 <= 100000.

    strict (k <= 128, nk >= 2, nothing reused): 4 x (2 x 32768 + 16384)
    / 10 = 32768 in any order.
    """
    problem = load_problem(matmul_problem(256, 256, 256, 100_000))
    contest = GranularityOptimizer(problem, "contest").best([0])
    assert contest is not None
    assert contest.grain.as_list() == [128, 128, 256]
    assert contest.traversal in ("snake", "snake_cols")
    assert math.isclose(contest.latency, 22937.6, rel_tol=1e-9)
    raster = view_cost(SubgraphView(problem, [0]), contest.grain, "raster")
    assert math.isclose(raster.latency, 26214.4, rel_tol=1e-9)
    strict = GranularityOptimizer(problem, "strict").best([0])
    assert strict is not None
    assert math.isclose(strict.latency, 32768.0, rel_tol=1e-9)


@pytest.mark.parametrize(
    ("height", "k_dim", "width", "native", "k_max"),
    [
        (128, 512, 256, (128, 128), 128),  # K above native: k_native
        (128, 96, 128, (128, 128), 96),  # K below native: K
        (128, 256, 128, (64, 128), 64),  # k_native = min(64, 128)
        (128, 256, 64, (128, 64), 64),  # k_native = min(128, 64)
        (200, 130, 384, (128, 128), 128),  # odd K just above native
    ],
)
def test_strict_k_within_native_and_k(
    height: int,
    k_dim: int,
    width: int,
    native: tuple[int, int],
    k_max: int,
) -> None:
    """Tests that strict never picks k above k_native or above K.

    The capacity is generous, so a k-step larger than allowed would be
    tempting (it saves reloads); the choice must also pass the strict
    checks of ``subgraph_violation``.
    """
    problem = load_problem(matmul_problem(height, k_dim, width, 10**6, native))
    choice = GranularityOptimizer(problem, "strict").best([0])
    assert choice is not None
    assert choice.grain.k <= k_max
    view = SubgraphView(problem, [0])
    assert subgraph_violation(view, choice.grain, "strict") is None


@pytest.mark.parametrize("rules", RULES)
@pytest.mark.parametrize("seed", range(40))
def test_choice_valid_and_costed(seed: int, rules: str) -> None:
    """Tests that every choice is locally valid and exactly costed.

    For each op of a random problem alone, and for each producer-consumer
    pair, a returned choice must pass ``subgraph_violation`` and carry
    the class oracle's cost of its own grain and traversal; strict
    choices also keep k <= min(k_native, K). Each op alone always fits
    (the generator sizes the capacity for it).
    """
    problem = load_problem(random_problem(random.Random(seed)))
    optimizer = GranularityOptimizer(problem, rules)
    rank = {o: i for i, o in enumerate(problem.topological_order)}
    groups = [[o] for o in range(problem.num_ops)]
    groups += [
        sorted((problem.producer[t], c), key=rank.__getitem__)
        for t in problem.producer
        for c in problem.consumers[t]
    ]
    for ops in groups:
        choice = optimizer.best(ops)
        if choice is None:
            assert len(ops) == 2, f"op {ops[0]} alone does not fit"
            continue
        view = SubgraphView(problem, ops)
        assert subgraph_violation(view, choice.grain, rules) is None
        cost = view_cost(view, choice.grain, choice.traversal)
        assert math.isclose(cost.latency, choice.latency, rel_tol=1e-12)
        if rules == "strict":
            ks = [problem.k_op[o] for o in ops if problem.is_matmul[o]]
            assert choice.grain.k <= min([problem.k_native, *ks])


def test_best_is_cached() -> None:
    """Tests that a repeated query is answered without a new search."""
    optimizer = GranularityOptimizer(load_problem("example3"))
    first = optimizer.best([0, 1])
    assert optimizer.searches == 1
    assert optimizer.best((0, 1)) is first
    assert optimizer.searches == 1
    optimizer.best([0, 1], retain_out=[2])
    assert optimizer.searches == 2


@pytest.mark.parametrize(
    ("cap", "expected"),
    [
        (1, [1]),  # nothing below 1
        (2, [2, 1]),
        (3, [3, 2, 1]),  # 3 // 2 = 1; power 2 below 3
        (128, [128, 64, 32, 16, 8, 4, 2, 1]),  # halvings are the powers
        # halvings 96, 48, 24, 12, 6, 3, 1 plus powers 64, 32, ..., 1
        (96, [96, 64, 48, 32, 24, 16, 12, 8, 6, 4, 3, 2, 1]),
        # halvings 200, 100, 50, 25, 12, 6, 3, 1 plus powers up to 128
        (200, [200, 128, 100, 64, 50, 32, 25, 16, 12, 8, 6, 4, 3, 2, 1]),
    ],
)
def test_halvings(cap: int, expected: list[int]) -> None:
    """Tests that halvings lists cap, its halvings and powers of two."""
    assert halvings(cap) == expected


def test_repeated_layers_share_one_search() -> None:
    """Tests that ops of identical shape and context are searched once:
    two stacked swiglu layers have the same ops, so the second layer's
    queries are answered from the first layer's searches, with equal
    choices. (The last op differs: its output is a graph output.)"""
    problem = generate("swiglu", layers=2, hidden=256, ffn=512)
    optimizer = GranularityOptimizer(problem)
    first = [optimizer.best([o]) for o in range(4)]
    searches = optimizer.searches
    second = [optimizer.best([o]) for o in range(5, 9)]
    assert optimizer.searches == searches
    assert second == first
    fused = optimizer.best([0, 2])
    assert optimizer.best([5, 7]) == fused
    assert optimizer.searches > searches


# One 300x300 MatMul, K = 128, base cost 1000, bandwidth 10, capacity
# 45000. At k = 128 (one k-step) the working set is 128h + 128w + hw:
# [128,128] needs 49152 > 45000, [128,100] needs 41984. h = 100 =
# ceil(300 / 3) cuts the rows into exactly 3 even tiles (a power of two
# needs 4 or more); w = 128 gives columns 128, 128, 44. Column snake
# loads each RHS column strip (128 x w_eff) once and carries the LHS row
# strip (h x 128 = 12800) across each column change; every tile stores
# h x w_eff:
#   column 0: 4198.4 (LHS + RHS + out), 2560, 2560
#   column 1: 2918.4 (RHS + out, LHS carried), 2560, 2560
#   column 2: 1003.2 (RHS 5632 + out 4400), 1720, 1720
# 21800 in all, every cell above its compute of 1000. Raster order
# reloads each RHS strip on every row: 3 x (4198.4 + 2918.4 + 1003.2) =
# 24360.
EXACT_COUNT: dict[str, Any] = {
    "widths": [128, 300, 300],
    "heights": [300, 128, 300],
    "inputs": [[0, 1]],
    "outputs": [[2]],
    "base_costs": [1000],
    "op_types": ["MatMul"],
    "fast_memory_capacity": 45000,
    "slow_memory_bandwidth": 10,
    "native_granularity": [128, 128],
}


@pytest.mark.parametrize("fine", [False, True])
def test_exact_count_side_with_column_order_wins(fine: bool) -> None:
    """Tests that the search picks h = ceil(300 / 3) = 100 with a snake
    order at the hand-derived 21800 (above), beating raster at [128, 100]
    and every power-of-two grain in every order."""
    problem = load_problem(EXACT_COUNT)
    choice = GranularityOptimizer(problem, "strict", fine=fine).best([0])
    assert choice is not None
    # [100, 100] with a row snake ties (the instance is symmetric) and
    # its working set is smaller.
    assert choice.grain.h == 100
    assert choice.traversal in ("snake", "snake_cols")
    assert math.isclose(choice.latency, 21800.0, rel_tol=1e-9)
    view = SubgraphView(problem, (0,))
    raster = view_cost(view, choice.grain, "raster").latency
    assert math.isclose(raster, 24360.0, rel_tol=1e-9)
    powers = [1 << i for i in range(8)]
    best_power = min(
        view_cost(view, Grain(w, h, 128), order).latency
        for w in powers
        for h in powers
        if view.working_set(Grain(w, h, 128)) <= 45000
        for order in TRAVERSALS
    )
    assert best_power > 21800.0


# The EXACT_COUNT MatMul at w = 128, k = 128 (one k-step) needs
# 128h + 128 x 128 + 128h = 256h + 16384 <= 45000: h <= 111.8, so the
# largest fitting h is 111; 300 / 111 needs 3 tiles, and the smallest h
# with 3 tiles is 100. At w = h = 128 and k < 128 (two k-steps) it needs
# 128k + 128k + 16384 <= 45000: k <= 111; k = 128 is one k-step, where the
# LHS and RHS strips are 128 x 128 each: 49152 does not fit. Below
# 256 + 16384 = 16640 not even h = 1 fits.
def test_fitting_side_and_k() -> None:
    """Tests that fitting_side and fitting_k give the largest fitting h
    (111) and k (111) derived above, and count_side their exact-count
    sides (100, and 64 = 128 / 2)."""
    view = SubgraphView(load_problem(EXACT_COUNT), (0,))
    h = fitting_side(view, Grain(128, 1, 128), "h", 128, 45000)
    assert h == 111
    assert count_side(300, h) == 100
    assert fitting_side(view, Grain(128, 1, 128), "h", 64, 45000) == 64
    assert fitting_side(view, Grain(128, 1, 128), "h", 128, 16600) == 0
    k = fitting_k(view, 128, 128, 1, 128, 45000)
    assert k == 111
    assert count_side(128, k) == 64


# One MatMul, output 256 x 300, K = 128, base cost 1000, bandwidth 10,
# capacity 24000. w = 100 = ceil(300 / 3) gives 3 even columns; at k = 128
# (one k-step) the working set is 128h + 128 x 100 + 100h = 228h + 12800
# <= 24000, so h <= 49: 6 rows, and the smallest h with 6 rows is 43
# (5 x 43 + 41). The power-of-two counts of 256 / 128 are 2, 4, 8: only
# the largest fitting side yields 6. Column snake [100, 43, 128] loads
# each RHS strip (128 x 100 = 12800) once and carries the LHS strip
# (h_eff x 128) across each column turn; a cell of LHS + output alone
# moves at most 5504 + 4300 = 9804 elements, under its compute of 1000:
#   column 0 (down): 2260.4 (RHS + LHS + out) + 5 x 1000 = 7260.4
#   column 1 (up):   1690 (RHS 12800 + out 4100) + 5 x 1000 = 6690
#   column 2 (down): 1710 (RHS 12800 + out 4300) + 5 x 1000 = 6710
# 20660.4 in all.
NON_POWER_WIDTH: dict[str, Any] = {
    "widths": [128, 300, 300],
    "heights": [256, 128, 256],
    "inputs": [[0, 1]],
    "outputs": [[2]],
    "base_costs": [1000],
    "op_types": ["MatMul"],
    "fast_memory_capacity": 24000,
    "slow_memory_bandwidth": 10,
    "native_granularity": [128, 128],
}


def test_non_power_width_with_column_order_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tests that the search picks w = 100 with the column-snake order at
    the hand-derived 20660.4 (above), strictly below every row order and
    every power-of-two width at any tile side; and that without the
    largest fitting side it misses this grain."""
    problem = load_problem(NON_POWER_WIDTH)
    choice = GranularityOptimizer(problem, "strict").best([0])
    assert choice is not None
    assert (choice.grain, choice.traversal) == (
        Grain(100, 43, 128),
        "snake_cols",
    )
    assert math.isclose(choice.latency, 20660.4, rel_tol=1e-9)
    view = SubgraphView(problem, (0,))
    sides = range(8, 129)
    grains = [
        Grain(w, h, 128)
        for w in sides
        for h in sides
        if view.working_set(Grain(w, h, 128)) <= 24000
    ]
    rows = min(
        view_cost(view, g, order).latency
        for g in grains
        for order in ("raster", "snake")
    )
    assert rows > 20660.4 + 1.0
    powers = min(
        view_cost(view, g, order).latency
        for g in grains
        if g.w & (g.w - 1) == 0
        for order in TRAVERSALS
    )
    assert powers > 20660.4 + 1.0
    monkeypatch.setattr(
        granularity.WorkingSetPlane,
        "largest",
        lambda self, axis, other, *_: np.zeros_like(other),
    )
    # A problem of its own: the optimizers of one problem share choices.
    fresh = load_problem(NON_POWER_WIDTH)
    missed = GranularityOptimizer(fresh, "strict").best([0])
    assert missed is not None
    assert missed.latency > 20660.4 + 1.0


@pytest.mark.parametrize(
    ("extent", "cap", "fine", "expected"),
    [
        # n0 = 3: counts 3, 6, ..., 192 (384 > 300) -> 100, 50, ..., 4, 2
        (300, 128, False, {100, 50, 25, 13, 7, 4, 2}),
        # fine adds every count 3..12: 75, 60, 43, 38, 34, 30, 28
        (
            300,
            128,
            True,
            {100, 75, 60, 50, 43, 38, 34, 30, 28, 25, 13, 7, 4, 2},
        ),
        # a cap that divides the extent: the powers of two themselves
        (512, 128, False, {128, 64, 32, 16, 8, 4, 2, 1}),
    ],
)
def test_exact_counts(
    extent: int, cap: int, fine: bool, expected: set[int]
) -> None:
    """Tests that exact_counts lists ceil(extent / n) for the counts n0
    2^i (and every count up to 4 n0 when fine), none above cap."""
    assert exact_counts(extent, cap, fine) == expected
