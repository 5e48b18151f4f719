"""The proven lower bound, the floors and proven optimality."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest
from generators import hand_problem
from solved import listed
from test_bounds_soundness import EQUAL_K

from mlsched import evaluate, load_problem
from mlsched.model.bounds import (
    compute_bound,
    compute_floor,
    io_floor,
    lower_bound,
    lower_bound_by,
)
from mlsched.model.result import SolveStatus

PROFILES = ("strict", "contest")


# MatMul 0: T0 (128x128) @ T1 (128x512) -> T2 (128x512), 4 native tiles.
# MatMul 1: T2 @ T3 (512x128) -> T4 (128x128), one tile.
CHAIN = hand_problem(
    [(128, 128), (128, 512), (128, 512), (512, 128), (128, 128)],
    [("MatMul", [0, 1], 2, 1000), ("MatMul", [2, 3], 4, 1000)],
)
# Pointwise 0: T0 (128x512) -> T1 (128x512), 4 tiles.
# MatMul 1: T1 @ T2 (512x128) -> T3 (128x128), one tile; K = 512.
PROLOGUE = hand_problem(
    [(128, 512), (128, 512), (512, 128), (128, 128)],
    [("Pointwise", [0], 1, 100), ("MatMul", [1, 2], 3, 1000)],
)
# PROLOGUE, with MatMul 2: T3 @ T4 (128x128) -> T5 (128x128), K = 128.
HEADED = hand_problem(
    [(128, 512), (128, 512), (512, 128), (128, 128), (128, 128), (128, 128)],
    [
        ("Pointwise", [0], 1, 100),
        ("MatMul", [1, 2], 3, 1000),
        ("MatMul", [3, 4], 5, 1000),
    ],
)
# Pointwise 0: T0 (128x512) -> T1 (128x512), read by two MatMuls:
# MatMul 1: T1 @ T2 (512x128) -> T3 (128x128), one tile;
# MatMul 2: T1 @ T4 (512x256) -> T5 (128x256), two tiles.
FORK = hand_problem(
    [(128, 512), (128, 512), (512, 128), (128, 128), (512, 256), (128, 256)],
    [
        ("Pointwise", [0], 1, 100),
        ("MatMul", [1, 2], 3, 1000),
        ("MatMul", [1, 4], 5, 1000),
    ],
)

# MatMul 0: T0 (512x128) @ T1 (128x512) -> T2 (512x512), K 128, 16 tiles;
# Pointwise 1: T2 -> T3; MatMul 2: T3 @ T4 (512x128) -> T5 (512x128),
# K 512, 4 tiles; MatMul 3: T5 @ T6 (128x128) -> T7 (512x128), K 128.
# T3 reaches MatMul 2 across a native side only with one k-step, so
# MatMul 2 heads MatMul 3 there: two MatMuls, MatMul 0 cannot join.
SCORES = hand_problem(
    [
        (512, 128),
        (128, 512),
        (512, 512),
        (512, 512),
        (512, 128),
        (512, 128),
        (128, 128),
        (512, 128),
    ],
    [
        ("MatMul", [0, 1], 2, 100),
        ("Pointwise", [2], 3, 10),
        ("MatMul", [3, 4], 5, 1000),
        ("MatMul", [5, 6], 7, 100),
    ],
)
# MatMul 0: T0 (256x384) @ T1 (384x256) -> T2 (256x256), 4 tiles, K 384;
# MatMul 1: T2 @ T3 (256x128) -> T4 (256x128), 2 tiles, K 256;
# MatMul 2: T5 (128x256) @ T4 -> T6 (128x128), 1 tile, K 256.
# A subgraph of all three needs every K equal to k and to w <= 128
# (SPEC §4 items 3 and 7): no subgraph holds T2 and T4 both ephemeral,
# so MatMul 0 computes on T4's 2 tiles at best (200), MatMul 1 on T6's
# one (10), MatMul 2 on its own one (1): 211 in both profiles.
TRIPLE = hand_problem(
    [
        (256, 384),
        (384, 256),
        (256, 256),
        (256, 128),
        (256, 128),
        (128, 256),
        (128, 128),
    ],
    [
        ("MatMul", [0, 1], 2, 100),
        ("MatMul", [2, 3], 4, 10),
        ("MatMul", [5, 4], 6, 1),
    ],
)

# Pointwise 0: T0 (128x1024) -> T1 (128x1024), 8 tiles; MatMul 1: T1 @
# T2 (1024x256) -> T3 (128x256), 2 tiles, K = 1,024; capacity 100,000.
# T1 reaches MatMul 1 only with one k-step (w <= 128 < K), and T2, a
# graph input of 262,144 elements, then takes 1,024 x w of the working
# set, T3's slice h x w more: w <= 86 at h = 128, so T3's grid has 3
# tiles: 300 + 2000 in contest (200 + 2000 on T3's native 2). In strict
# no tail of small K: op 0 on its 8.
NARROW = hand_problem(
    [(128, 1024), (128, 1024), (1024, 256), (128, 256)],
    [("Pointwise", [0], 1, 100), ("MatMul", [1, 2], 3, 1000)],
    capacity=100_000,
)


@pytest.mark.parametrize(
    ("instance", "rules", "expected"),
    [
        ("example3", "strict", 4500.0),  # 3 one-tile ops of 1500
        ("example3", "contest", 4500.0),  # the same in both profiles
        (CHAIN, "strict", 2000.0),  # T2 hidden in a chain: T4's one tile
        (CHAIN, "contest", 2000.0),  # the same in both profiles
        (PROLOGUE, "strict", 1400.0),  # K 512 > 128: op 0 pays 4 tiles
        (PROLOGUE, "contest", 1100.0),  # k may reach K: one tile
        (HEADED, "strict", 2100.0),  # MatMul 1 a head, tail K 128: 1 tile
        (FORK, "contest", 3200.0),  # op 0: the larger reader grid, 2
        (FORK, "strict", 3400.0),  # no fusion: op 0 pays its 4 tiles
        # MatMul 0 on T2's 16 tiles (1600), Pointwise 1 heading into
        # MatMul 2's chain on T7's 4 (40), MatMuls 2 and 3 on 4 (4400).
        (SCORES, "strict", 6040.0),
        (SCORES, "contest", 4840.0),  # k may reach K: all on 4 tiles
        (TRIPLE, "strict", 211.0),  # three MatMuls of K > 128: no chain
        (TRIPLE, "contest", 211.0),  # w <= 128 < K in contest too
        (EQUAL_K, "contest", 111.0),  # all three on T6's tile, w = k = K
        (EQUAL_K, "strict", 211.0),  # k <= 2 < K = 3: MatMul 0 on 2 tiles
        (NARROW, "contest", 2300.0),  # one k-step, w <= 86: 3 tiles
        (NARROW, "strict", 2800.0),  # no fusion: op 0 pays its 8 tiles
    ],
    ids=[
        "example3-strict",
        "example3-contest",
        "chain-strict",
        "chain-contest",
        "prologue-strict",
        "prologue-contest",
        "headed-strict",
        "fork-contest",
        "fork-strict",
        "scores-strict",
        "scores-contest",
        "triple-strict",
        "triple-contest",
        "equal-k-contest",
        "equal-k-strict",
        "narrow-contest",
        "narrow-strict",
    ],
)
def test_hand_derived_compute_bound(
    instance: Any, rules: str, expected: float
) -> None:
    """Tests the compute-only bound against values derived by hand in the
    table's comments (base cost times the fewest tiles each op can be
    computed on), and that the lower bound is at least it."""
    p = load_problem(instance)
    assert compute_bound(p, rules) == expected
    assert lower_bound(p, rules) >= expected


def test_chain_bound_is_below_the_compute_floor_and_reachable() -> None:
    """Tests that the chain's compute bound (2000) is below the compute
    floor (4 x 1000 + 1000) and the lower bound is no more than a valid
    fused schedule's latency: [[0, 1]] at [128, 128, 128] runs T4's
    single tile."""
    p = load_problem(CHAIN)
    assert compute_floor(p) == 5000.0
    assert compute_bound(p) == 2000.0
    solution = {
        "subgraphs": [[0, 1]],
        "granularities": [[128, 128, 128]],
        "tensors_to_retain": [[]],
        "traversal_orders": [None],
        "subgraph_latencies": [0.0],
    }
    for rules in PROFILES:
        ev = evaluate(p, solution, rules)
        assert ev.valid, ev.message
        assert lower_bound(p, rules) <= ev.total_latency


@pytest.mark.parametrize("rules", PROFILES)
def test_bound_holds_for_every_valid_corpus_schedule(
    corpus: tuple[dict[str, Any], ...], problem_of: Any, rules: str
) -> None:
    """Tests that no valid corpus schedule (751 across both profiles,
    recomputation among them) beats the lower bound."""
    checked = 0
    for case in corpus:
        verdict = case[rules]
        if not verdict["valid"]:
            continue
        p = problem_of(case["problem"])
        bound = lower_bound(p, rules)
        assert bound <= verdict["total_latency"] * (1 + 1e-9), case["id"]
        checked += 1
    assert checked > 300


@pytest.mark.parametrize(
    "name",
    [f"mlsys-2026-{n}" for n in (17, 18, 19, 20, 21, 22, 23, 24)],
)
def test_list_scheduler_is_proven_optimal_in_strict(name: str) -> None:
    """Tests that on these benchmarks the strict list schedule meets the
    lower bound, so the result says it is optimal (no schedule, from any
    solver, can be better). The result is the session's (tests/solved.py),
    which the scheduler tests check too."""
    result = listed(name, "heuristic", "strict")
    assert result.proven_optimal
    assert result.status is SolveStatus.OPTIMAL
    assert result.lower_bound == pytest.approx(result.objective, rel=1e-9)


@pytest.mark.parametrize("rules", PROFILES)
def test_floors_of_example1(rules: str) -> None:
    """Tests the floors of example1: ops of cost 1000 and 100 on one tile
    each (1100, also the compute bound: nothing is smaller than a tile),
    and T0 plus T2 moved once: 32768 / 10."""
    p = load_problem("example1")
    assert compute_floor(p) == 1100.0
    assert compute_bound(p, rules) == 1100.0
    assert io_floor(p) == 3276.8


@pytest.mark.usefixtures("no_kept_bounds")
@pytest.mark.parametrize("rules", PROFILES)
def test_a_stopped_traffic_bound_falls_back_to_compute(rules: str) -> None:
    """Tests that a traffic bound whose stop has passed gives way to the
    compute bound, says so, and is not kept: on CHAIN the compute bound
    is 1000 x 1 + 1000 x 1 = 2000 (both outputs fit one native tile),
    and moving T0, T1, T3 and T4 alone takes 4 x 16384 / 10 = 6553.6,
    so the complete bound is higher, and a later call without a stop
    still finds it."""
    p = load_problem(CHAIN)
    stopped = lower_bound_by(p, rules, time.perf_counter())
    assert stopped == (2000.0, False)
    full = lower_bound_by(p, rules, None)
    assert full.traffic
    assert full.value > 6553.6 * (1 - 1e-9)
    assert full.value == lower_bound(p, rules)
    # Once complete, the kept bound serves even a passed stop.
    assert lower_bound_by(p, rules, time.perf_counter()) == full


def test_model_layer_does_not_import_ortools() -> None:
    """Tests that importing the model layer (bounds included) loads no
    solver: the bound is pure Python and NumPy."""
    code = "import sys, mlsched.model; print('ortools' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"
