"""MatMuls that can only run alone: their floor and the strict bound."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from exhaustive import optimum, pair_problem, path_problem, tiny_problem
from generators import hand_problem

from mlsched import Problem, evaluate, load_problem
from mlsched.model import bounds
from mlsched.model.alone import (
    alone_floor,
    heading_floor,
    path_surplus,
    pointwise_floor,
    runs_alone,
)
from mlsched.model.bounds import (
    _compute_floors,
    alone_bound,
    alone_floors,
    compute_bound,
    lower_bound,
)
from mlsched.model.chains import Chains

RESULTS = Path(__file__).parents[2] / "benchmarks" / "results"


def single(base: int, capacity: int = 200_000) -> dict[str, Any]:
    """T0 (128x512) @ T1 (512x128) -> T2 (128x128): one MatMul of K 512
    on graph inputs, writing a graph output; bandwidth 10."""
    return hand_problem(
        [(128, 512), (512, 128), (128, 128)],
        [("MatMul", [0, 1], 2, base)],
        capacity,
    )


#: One tile at [128, 128, 128] (k <= 128 in strict): 4 k-steps, each
#: computing 16384 / 4 = 4096 and loading 2 x 128 x 128 / 10 = 3276.8;
#: the last also stores 16384 / 10 = 1638.4: 3 x 4096 + 4915.2 = 17203.2.
#: Any other tile pays 16384 more compute, a smaller k steps with the
#: same ratio and a smaller last step: so that is the optimum, and the
#: bound's last-cell excess (-6.4 x 128 + 1638.4 = 819.2) meets it.
COMPUTE_BOUND_STORE = single(16_384)
#: Base 4096: every k-step loads 3276.8 over a compute of 1024. The
#: cells after the first cost at least (25.6 - 8) x 384 + 1638.4 =
#: 8396.8 over their compute, and the first, which no other op shares,
#: (25.6 - 8) x 128 = 2252.8: the bound is 4096 + 10649.6 = 14745.6,
#: what the schedule above costs (4 x 3276.8 + 1638.4), so it is optimal.
MEMORY_BOUND = single(4_096)


def native(subgraphs: list[list[int]], retain: list[list[int]]) -> Any:
    """A schedule of ``subgraphs``, each at [128, 128, 128] in raster
    order, retaining ``retain``."""
    return {
        "subgraphs": subgraphs,
        "granularities": [[128, 128, 128]] * len(subgraphs),
        "tensors_to_retain": retain,
        "traversal_orders": [None] * len(subgraphs),
        "subgraph_latencies": [0.0] * len(subgraphs),
    }


ONE_TILE = native([[0]], [[]])


@pytest.mark.parametrize(
    ("instance", "bound", "latency"),
    [
        (COMPUTE_BOUND_STORE, 17_203.2, 17_203.2),
        (MEMORY_BOUND, 14_745.6, 14_745.6),
    ],
    ids=["store-in-last-step", "memory-bound"],
)
def test_hand_derived_alone_bound(
    instance: dict[str, Any], bound: float, latency: float
) -> None:
    """Tests the bound of a MatMul that runs alone against the values
    derived in the comments above, the one-tile schedule's latency, and
    that the contest profile (k may reach K) keeps the compute bound."""
    p = load_problem(instance)
    assert alone_bound(p, "strict") == pytest.approx(bound, rel=1e-12)
    assert lower_bound(p, "strict") >= bound * (1 - 1e-12)
    ev = evaluate(p, ONE_TILE, "strict")
    assert ev.valid, ev.message
    assert ev.total_latency == pytest.approx(latency, rel=1e-12)
    assert alone_bound(p, "contest") == compute_bound(p, "contest")


# Pointwise 0: T0 (128x512) -> T1 (128x512); MatMul 1: T1 @ T2 (512x128)
# -> T3 (128x128), K 512. T1 holds 65,536 elements: under a capacity of
# 200,000 it may be kept, so only T2 is sure to load: slope 12.8 -
# 1000 / 512 = 10.846875 at every k-step, the first too (op 0 cannot
# share the subgraph: K > 128, SPEC §4 item 7), excess 10.846875 x 512
# + 1638.4 = 7192.0, floor 8192.0: op 0 keeping T1 for a subgraph of op
# 1 alone at [128, 128, 128] costs that (4 x 1638.4 + 1638.4). Under
# 60,000 T1 is never kept, and K > 128 keeps it from being ephemeral:
# slope 23.646875, floor 1000 + 12107.2 + 1638.4.
def prologue(capacity: int) -> dict[str, Any]:
    """PROLOGUE of test_bounds.py under ``capacity``."""
    return hand_problem(
        [(128, 512), (128, 512), (512, 128), (128, 128)],
        [("Pointwise", [0], 1, 100), ("MatMul", [1, 2], 3, 1000)],
        capacity,
    )


@pytest.mark.parametrize(
    ("capacity", "floor"),
    [(200_000, 8_192.0), (60_000, 14_745.6)],
    ids=["operand-may-be-kept", "operand-too-large"],
)
def test_an_operand_loads_only_if_never_kept(
    capacity: int, floor: float
) -> None:
    """Tests that a produced operand counts as loaded at every k-step
    only when it is at least the capacity (values in the comment)."""
    p = load_problem(prologue(capacity))
    assert runs_alone(p, 1)
    assert alone_floor(p, 1) == pytest.approx(floor, rel=1e-12)


# MatMul 0: T0 (128x512) @ T1 (512x128) -> T2; MatMul 1: T2 @ T3
# (128x128) -> T4: a chain, so neither runs alone.
CHAIN = hand_problem(
    [(128, 512), (512, 128), (128, 128), (128, 128), (128, 128)],
    [("MatMul", [0, 1], 2, 1000), ("MatMul", [2, 3], 4, 1000)],
)
# MatMul 0 of K 128 (not above k_native) beside a Pointwise op.
SHALLOW = hand_problem(
    [(128, 128), (128, 128), (128, 128), (128, 128)],
    [("MatMul", [0, 1], 2, 1000), ("Pointwise", [2], 3, 100)],
)


@pytest.mark.parametrize(
    ("instance", "op", "alone"),
    [
        (COMPUTE_BOUND_STORE, 0, True),  # K 512 on graph inputs
        (prologue(200_000), 0, False),  # a Pointwise op
        (prologue(200_000), 1, True),  # operand made by a Pointwise op
        (CHAIN, 0, True),  # alone wherever it does not head the chain
        (CHAIN, 1, False),  # its input is made by a MatMul
        (SHALLOW, 0, False),  # K = k_native: one k-step is possible
    ],
    ids=[
        "graph-inputs",
        "pointwise",
        "pointwise-operand",
        "head",
        "tail",
        "shallow",
    ],
)
def test_which_matmuls_run_alone(
    instance: dict[str, Any], op: int, alone: bool
) -> None:
    """Tests the test for MatMuls standalone with several k-steps in
    every strict subgraph, case by case (reasons in the table)."""
    assert runs_alone(load_problem(instance), op) is alone


# MatMul 0: T0 (128x512) @ T1 (512x128) -> T2 (128x128), base 4096;
# MatMul 1: T2 @ T3 (128x512) -> T4 (128x512), K 128, base 1000, 4 tiles.
# Where MatMul 0 does not head MatMul 1 it runs alone: T2 (16,384
# elements) may be kept, so no store is sure, and each k-step loads 25.6
# per unit of k over a compute of 8 (no other op can share the first):
# 4096 + 17.6 x 512 = 13,107.2. Heading MatMul 1 it computes on T4's 4
# tiles: 16,384. The bound takes the smaller for it, and MatMul 1's
# 4 x 1000.
HEADS = hand_problem(
    [(128, 512), (512, 128), (128, 128), (128, 512), (128, 512)],
    [("MatMul", [0, 1], 2, 4096), ("MatMul", [2, 3], 4, 1000)],
)


def test_a_matmul_that_may_head_pays_the_cheaper_way() -> None:
    """Tests the floors of a MatMul that can run alone or head a chain
    (values in the comment above) and that a valid schedule of the
    pair does not beat the bound."""
    p = load_problem(HEADS)
    assert runs_alone(p, 0)
    assert alone_floor(p, 0) == pytest.approx(13_107.2, rel=1e-12)
    assert heading_floor(p, 0) == 16_384.0
    assert alone_bound(p, "strict") == pytest.approx(17_107.2, rel=1e-12)
    apart = native([[0], [1]], [[2], []])
    ev = evaluate(p, apart, "strict")
    assert ev.valid, ev.message
    assert ev.total_latency >= alone_bound(p, "strict")


# MatMul 0: T0 (128x512) @ T1 (512x256) -> T2 (128x256), base 1000;
# MatMul 1: T2 @ T3 (256x128) -> T4 (128x128), K 256, base 1000, 1 tile.
# Heading MatMul 1 (K 256 > 128: several k-steps), each k-step after the
# first computes 2000 / 256 per unit of k and loads T1's 512 x k slice
# and T3's k x 128 one: (640 / 10 - 7.8125) x 128 + the store of T4
# (1638.4) = 8830.4 on its one tile, so 1000 + 8830.4 = 9830.4. Alone
# on T2's 2 tiles: 2 x (1000 + (25.6 - 1000 / 512) x 512) = 26,214.4.
# With MatMul 1's tile: 10,830.4. Fused at [128, 128, 128] the pair
# costs 14,745.6 in its first k-step (T0's strip, T1's and T3's slices)
# and 9830.4 in its last: 24,576.
DEEP_TAIL = hand_problem(
    [(128, 512), (512, 256), (128, 256), (256, 128), (128, 128)],
    [("MatMul", [0, 1], 2, 1000), ("MatMul", [2, 3], 4, 1000)],
)


def test_a_head_over_a_deep_tail_pays_its_reloads() -> None:
    """Tests the floors of a MatMul heading a tail whose K is above
    k_native (values in the comment above), and the fused schedule's
    latency: its last k-step's excess is the one the bound charges."""
    p = load_problem(DEEP_TAIL)
    assert heading_floor(p, 0) == pytest.approx(9_830.4, rel=1e-12)
    assert alone_floor(p, 0) == pytest.approx(26_214.4, rel=1e-12)
    assert alone_bound(p, "strict") == pytest.approx(10_830.4, rel=1e-12)
    fused = native([[0, 1]], [[]])
    ev = evaluate(p, fused, "strict")
    assert ev.valid, ev.message
    assert ev.total_latency == pytest.approx(24_576.0, rel=1e-12)


def below_optimum(
    seeds: range,
    raised: Callable[[Problem], bool],
    make: Callable[[random.Random], dict[str, Any]] = tiny_problem,
) -> tuple[int, int]:
    """Over the problems ``make`` draws from ``seeds`` where ``raised``
    holds, assert that the strict alone bound never exceeds the exact
    optimum; how many were checked and how many it met."""
    checked = tight = 0
    for seed in seeds:
        p = load_problem(make(random.Random(seed)))
        if not raised(p):
            continue
        bound, best = alone_bound(p, "strict"), optimum(p, "strict")
        assert bound <= best * (1 + 1e-9), seed
        checked += 1
        tight += bound >= best * (1 - 1e-9)
    return checked, tight


def test_alone_bound_is_below_the_exact_optimum_of_tiny_problems() -> None:
    """Tests that on tiny random problems where the bound exceeds the
    compute bound (seeds 0-1499: sides 1-3, native sides 2-3, so K above
    k_native is common), it never exceeds the optimum over every valid
    strict schedule, and meets it on some."""
    checked, tight = below_optimum(
        range(1500),
        lambda p: alone_bound(p, "strict") > compute_bound(p, "strict"),
    )
    assert checked >= 50
    assert tight >= 5


def test_benchmark_14_strict_schedule_meets_the_bound() -> None:
    """Tests that the committed strict schedule of benchmark 14 is valid
    and meets the bound, which proves it optimal: its 18 MatMuls of
    K = 512 run alone on 512x1024 outputs (capacity 400,000, bandwidth
    40), each k-step of 128 computes 1000 and loads 819.2, and the last
    one also stores 409.6, 228.8 over its compute on each of 32 tiles;
    every other op runs at its compute floor."""
    p = load_problem("mlsys-2026-14")
    path = RESULTS / "strict" / "mlsys-2026-14.cpsat.strict.json"
    ev = evaluate(p, json.loads(path.read_text()), "strict")
    assert ev.valid, ev.message
    alone = [o for o in range(p.num_ops) if runs_alone(p, o)]
    assert sum(heading_floor(p, o) == math.inf for o in alone) == 18
    assert alone_floor(p, 0) == pytest.approx(32 * (4000 + 228.8))
    assert lower_bound(p, "strict") == pytest.approx(
        ev.total_latency, rel=1e-9
    )


def test_a_matmul_that_may_head_stays_below_the_optimum() -> None:
    """Tests that on tiny random problems where a MatMul that could head
    a chain gets more than its compute floor (seeds 0-19,999: the case
    is rare), the bound never exceeds the optimum over every valid
    strict schedule, and meets it on some."""

    def raised(p: Problem) -> bool:
        floors = _compute_floors(p, "strict")
        return any(
            runs_alone(p, o)
            and heading_floor(p, o) < math.inf
            and min(alone_floor(p, o), heading_floor(p, o)) > floors[o]
            for o in range(p.num_ops)
        )

    checked, tight = below_optimum(range(20_000), raised)
    assert checked >= 30
    assert tight >= 1


# MatMul 0: T0 (128x512) @ T1 (512x128) -> T2 (128x128), base 4096, and
# Pointwise 1 reading T2, base b, writing the graph output; bandwidth
# 10. Every k-step of [128, 128, 128] loads 3276.8 over MatMul 0's 1024,
# 17.6 per unit of k. Op 1 is the only op that can share MatMul 0's
# first cell, whose excess is 17.6 x 128 = 2252.8. T2 may be kept, so no
# store is sure on its grid: the floor is 4096 + 17.6 x 384 + the part
# of 2252.8 that op 1 does not hide.
# - Epilogue (op 1: T2 -> T3): it hides b. Fused at [128, 128, 128] the
#   pair costs 3 x 3276.8 + (3276.8 + 1638.4) = 14,745.6 for b up to
#   2252.8, 4024 + 2 x 3276.8 + 4915.2 = 15,492.8 for b = 3000.
# - Skip (op 1: T2 + T3, T3 a graph input): in the first cell it also
#   loads T3's slice, 1638.4, so it hides only b - 1638.4: b = 1000
#   hides nothing, b = 2000 hides 361.6. Fused, the first cell loads
#   4915.2: 4915.2 + 2 x 3276.8 + 4915.2 = 16,384.
def beside(base: int, skip: bool) -> dict[str, Any]:
    """MatMul 0 with Pointwise op 1 of ``base`` reading its output (and,
    with ``skip``, a graph input)."""
    shapes = [(128, 512), (512, 128), (128, 128), (128, 128), (128, 128)]
    ins = [2, 3] if skip else [2]
    out = 4 if skip else 3
    return hand_problem(
        shapes[: out + 1],
        [("MatMul", [0, 1], 2, 4096), ("Pointwise", ins, out, base)],
    )


@pytest.mark.parametrize(
    ("base", "skip", "floor", "fused"),
    [
        (1000, False, 4096 + 6758.4 + 1252.8, 14_745.6),
        (2000, False, 4096 + 6758.4 + 252.8, 14_745.6),
        (3000, False, 4096 + 6758.4, 15_492.8),
        (1000, True, 4096 + 6758.4 + 2252.8, 16_384.0),
        (2000, True, 4096 + 6758.4 + 1891.2, 16_384.0),
    ],
    ids=[
        "partly-hidden",
        "mostly-hidden",
        "all-hidden",
        "skip-hides-nothing",
        "skip-hides-some",
    ],
)
def test_pointwise_ops_hide_part_of_the_first_cell(
    base: int, skip: bool, floor: float, fused: float
) -> None:
    """Tests that the first cell of a MatMul that runs alone is charged
    above what the Pointwise ops that can share it compute beyond their
    own loads there (values in the comment above), and that the fused
    schedule costs what the comment says, no less than the bound."""
    p = load_problem(beside(base, skip))
    assert alone_floor(p, 0) == pytest.approx(floor, rel=1e-12)
    assert alone_bound(p, "strict") == pytest.approx(floor + base)
    ev = evaluate(p, native([[0, 1]], [[]]), "strict")
    assert ev.valid, ev.message
    assert ev.total_latency == pytest.approx(fused, rel=1e-12)
    assert ev.total_latency >= alone_bound(p, "strict")


# Pointwise 0 transposes the graph input T0 (128x256) into T1 (256x128),
# the right operand of MatMul 1 (T2 (128x256) @ T1, K 256 > 128: T1 is
# never ephemeral, SPEC §4 item 7). Nothing else can share op 0's grid,
# so it runs alone: 2 native tiles compute 200, but it loads T0 (32,768
# elements, 3276.8) and, if T1 is never kept (capacity 30,000 <= 32,768),
# stores T1 too: 6553.6; under 100,000 it may keep T1 for op 1: 3276.8.
# A twin transposing T0 into a tensor of T1's shape can share its
# subgraph: then only the compute is sure.
def transpose(capacity: int, twin: bool = False) -> dict[str, Any]:
    """Op 0 transposing a graph input for MatMul 1 (and a twin)."""
    shapes = [(128, 256), (256, 128), (128, 256), (128, 128)]
    ops = [("Pointwise", [0], 1, 100), ("MatMul", [2, 1], 3, 1000)]
    if twin:
        shapes.append((256, 128))
        ops.append(("Pointwise", [0], 4, 100))
    return hand_problem(shapes, ops, capacity)


@pytest.mark.parametrize(
    ("instance", "floor"),
    [
        (transpose(30_000), 6_553.6),
        (transpose(100_000), 3_276.8),
        (transpose(30_000, twin=True), 200.0),
    ],
    ids=["stores", "may-keep", "twin"],
)
def test_a_pointwise_op_that_runs_alone_pays_its_traffic(
    instance: dict[str, Any], floor: float
) -> None:
    """Tests the floor of a Pointwise op that no other op can join
    (values in the comment above), and that a schedule running it alone
    costs that much there."""
    p = load_problem(instance)
    chains = Chains(p, "strict")
    floors = _compute_floors(p, "strict", chains)
    assert pointwise_floor(p, 0, floors, chains) == pytest.approx(floor)
    keep = p.fast_memory_capacity > p.sizes[1]
    n = p.num_ops
    schedule = {
        "subgraphs": [[o] for o in range(n)],
        "granularities": [[128, 64, 1], [128, 64, 64], [128, 64, 1]][:n],
        "tensors_to_retain": [[1] if keep else [], [], []][:n],
        "traversal_orders": [None] * n,
        "subgraph_latencies": [0.0] * n,
    }
    ev = evaluate(p, schedule, "strict")
    assert ev.valid, ev.message
    assert ev.subgraphs[0].latency >= floor * (1 - 1e-12)
    assert ev.total_latency >= alone_bound(p, "strict") * (1 - 1e-12)


def raises_bound(
    monkeypatch: pytest.MonkeyPatch, part: str, off: Callable[..., float]
) -> Callable[[Problem], bool]:
    """Whether a problem's strict bound is above what it is with
    ``bounds.<part>`` replaced by ``off``."""

    def raised(p: Problem) -> bool:
        with monkeypatch.context() as m:
            m.setattr(bounds, part, off)
            without = alone_bound(p, "strict")
        return alone_bound(p, "strict") > without

    return raised


def test_pointwise_floors_stay_below_the_optimum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tests that on tiny random problems where a Pointwise op's own
    floor (running alone, or feeding a MatMul that must then head a
    chain) raises the strict bound (seeds 0-5999), the bound never
    exceeds the optimum over every valid strict schedule, and meets it
    on some."""

    raised = raises_bound(
        monkeypatch, "pointwise_floor", lambda p, q, f, c: f[q]
    )
    checked, tight = below_optimum(range(6000), raised)
    assert checked >= 80
    assert tight >= 40


def test_pair_surplus_stays_below_the_optimum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tests that on tiny problems where two MatMuls that run alone make
    the operands of a third (``exhaustive.pair_problem``, seeds 0-299)
    and what one of them must pay to get its operand there raises the
    bound, the bound never exceeds the optimum over every valid strict
    schedule, and meets it on some."""

    raised = raises_bound(monkeypatch, "pair_surplus", lambda *args: 0.0)
    checked, tight = below_optimum(range(300), raised, pair_problem)
    assert checked >= 10
    assert tight >= 5


def two_paths(
    k: int = 256, capacity: int = 200_000, reread: bool = False
) -> dict[str, Any]:
    """MatMul A: T0 (512xk) @ T1 (kx512) -> T2 (512x512), base 1000;
    MatMul B: T3 (512x256) @ T4 (256x512) -> T5, base 1000; Pointwise
    T5 -> T6, base 50; Pointwise c: T2, T6 -> T7, base 100 (``reread``:
    and Pointwise T2 -> T8, base 10)."""
    shapes = [(512, k), (k, 512), (512, 512), (512, 256), (256, 512)]
    shapes += [(512, 512)] * (4 if reread else 3)
    ops = [
        ("MatMul", [0, 1], 2, 1000),
        ("MatMul", [3, 4], 5, 1000),
        ("Pointwise", [5], 6, 50),
        ("Pointwise", [2, 6], 7, 100),
    ]
    if reread:
        ops.append(("Pointwise", [2], 8, 10))
    return hand_problem(shapes, ops, capacity)


# Both MatMuls run alone (K 256 > 128: two k-steps), on 16 tiles of
# 128x128. A's tile: a later k-step loads two 128x128 slices (3276.8)
# against 500 of compute (2776.8 over), the last stores T7's tile
# (1638.4), the first is 2776.8 over less what c's compute may hide
# there (100; the Pointwise op on T5 loads a slice of T5, which no
# schedule keeps, and hides nothing): 1000 + 2776.8 + 1638.4 + 2676.8 =
# 8092 per tile, 129,472. B the same with 50 hidden: 130,272. The
# Pointwise floors: 16 x 50 = 800 and 16 x 100 = 1600. A and B never
# share a subgraph, so c's subgraph holds at most one of them and loads
# a tensor of the other path. With B: c surely there, a slice of T2 in
# B's first k-step, 1638.4 - 100 above what B's floor counts there:
# 16 x 1538.4 = 24,614.4. With A: c and the op on T5 there at most, a
# slice of T6 or T5 loaded: 16 x (1638.4 - 150 + 100) = 25,414.4. With
# neither: T2 and T6 (or T5) whole, 2 x 26,214.4 - 800 - 1600 =
# 50,028.8. c pays the least, 24,614.4, so the bound is 129,472 +
# 130,272 + 800 + 1600 + 24,614.4 = 286,758.4 (262,144 without it). At
# native tiles {B, op on T5} costs 131,072 and {A, c} 157,286.4.
def test_a_pointwise_op_fed_by_two_lone_matmuls_pays_a_load() -> None:
    """Tests the path surplus and bound of the two-path instance (values
    in the comment above) and that a valid schedule does not beat it."""
    p = load_problem(two_paths())
    floors = [129_472.0, 130_272.0, 800.0, 1600.0]
    chains = Chains(p, "strict")
    assert path_surplus(p, 3, floors, chains) == pytest.approx(24_614.4)
    assert alone_bound(p, "strict") == pytest.approx(286_758.4)
    ev = evaluate(p, native([[1, 2], [0, 3]], [[], []]), "strict")
    assert ev.valid, ev.message
    assert ev.total_latency == pytest.approx(288_358.4)


def test_an_input_read_twice_is_one_path() -> None:
    """Tests that c reading T2 twice (inputs T2, T2, T6) pays the same
    path surplus as reading it once: the slices are the same."""
    twice = two_paths()
    twice["inputs"][3] = [2, 2, 6]
    p = load_problem(twice)
    floors = [129_472.0, 130_272.0, 800.0, 1600.0]
    surplus = path_surplus(p, 3, floors, Chains(p, "strict"))
    assert surplus == pytest.approx(24_614.4)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"k": 128}, "A has one k-step: it can share c's subgraph"),
        ({"capacity": 300_000}, "T2 and T6 fit: they can be kept"),
        ({"reread": True}, "T2 has two readers"),
    ],
)
def test_no_path_surplus_without_two_lone_sources(
    change: dict[str, Any], why: str
) -> None:
    """Tests that the path surplus is 0 where one of its conditions
    fails (``why``)."""
    p = load_problem(two_paths(**change))
    floors = alone_floors(p, "strict")
    assert path_surplus(p, 3, floors, Chains(p, "strict")) == 0.0, why


def test_path_surplus_stays_below_the_optimum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tests that on tiny problems where two MatMuls that run alone make
    the two inputs of a Pointwise op (``exhaustive.path_problem``, seeds
    0-999) and the load its subgraph cannot avoid raises the bound, the
    bound never exceeds the optimum over every valid strict schedule,
    and meets it on some."""

    raised = raises_bound(monkeypatch, "path_surplus", lambda *args: 0.0)
    checked, tight = below_optimum(range(1000), raised, path_problem)
    assert checked >= 150
    assert tight >= 3
