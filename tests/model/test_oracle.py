"""The fast class oracle against the per-cell reference (SPEC §5).

:func:`mlsched.model.view_cost` costs one representative cell per class
of cells; :func:`mlsched.model.reference_cost` walks every cell. They must
agree exactly (to a relative 1e-9) on latency, working set, grid, k-steps
and the number of compute- and memory-bound cells, for every named
traversal. The corpus checks the real instances; the seeded random
property test hunts for corner cases: edge tiles on either axis,
single-row and single-column grids, 1, 2, 3 and 5 k-steps, every MatMul
role, retained-in (P) and retain-out (R) sets, shared and repeated inputs.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

from mlsched import Problem, load_problem
from mlsched.model import (
    TRAVERSALS,
    Grain,
    Role,
    SubgraphCost,
    SubgraphView,
    reference_cost,
    subgraph_cost,
    subgraph_violation,
    traversal_permutation,
    view_cost,
)

ProblemOf = Callable[[str | dict[str, Any]], Problem]


def cost_mismatch(fast: SubgraphCost, ref: SubgraphCost) -> str | None:
    """How the oracle's cost differs from the reference's, or None."""
    exact = ("working_set", "tiles", "k_steps", "compute_cells")
    for name in (*exact, "memory_cells"):
        if getattr(fast, name) != getattr(ref, name):
            return f"{name}: {getattr(fast, name)} != {getattr(ref, name)}"
    for name in ("latency", "compute_time", "memory_time"):
        a, b = getattr(fast, name), getattr(ref, name)
        if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9):
            return f"{name}: {a!r} != {b!r}"
    return None


def named_traversal(order: Sequence[int], nw: int, nh: int) -> str | None:
    """The name of a traversal permutation, or None for a custom one."""
    for name in TRAVERSALS:
        if list(order) == traversal_permutation(name, nw, nh):
            return name
    return None


# Named traversals -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "nw", "nh", "expected"),
    [
        # Row-major: tile index = row * nw + col, rows top to bottom.
        ("raster", 3, 2, [0, 1, 2, 3, 4, 5]),
        # Row 0 left to right, row 1 right to left.
        ("snake", 3, 2, [0, 1, 2, 5, 4, 3]),
        # Column 0 top to bottom (0, 3), then column 1 (1, 4), column 2.
        ("raster_cols", 3, 2, [0, 3, 1, 4, 2, 5]),
        # Column 1 runs bottom to top: (1,1)=4 then (0,1)=1.
        ("snake_cols", 3, 2, [0, 3, 4, 1, 2, 5]),
        # One column: every order is top to bottom.
        ("snake", 1, 3, [0, 1, 2]),
        # One row: column orders walk it left to right.
        ("snake_cols", 3, 1, [0, 1, 2]),
        # Three rows of two: rows 0 and 2 forward, row 1 backward.
        ("snake", 2, 3, [0, 1, 3, 2, 4, 5]),
    ],
)
def test_traversal_permutation_by_hand(
    name: str, nw: int, nh: int, expected: list[int]
) -> None:
    """Tests that a named traversal yields the hand-derived order."""
    assert traversal_permutation(name, nw, nh) == expected


def test_traversal_permutations_are_permutations() -> None:
    """Tests that every named traversal of every small grid is a
    permutation and that raster is the identity."""
    for nw in range(1, 7):
        for nh in range(1, 7):
            for name in TRAVERSALS:
                order = traversal_permutation(name, nw, nh)
                assert sorted(order) == list(range(nw * nh)), (name, nw, nh)
            assert traversal_permutation("raster", nw, nh) == list(
                range(nw * nh)
            )


@pytest.mark.parametrize(
    ("traversal", "expected"),
    [
        # 2x2 tiles of [64,64,128] on example4 (T0 @ T1, base 1500, bw 10):
        # a tile loading a new LHS row strip (8192) and a new RHS column
        # strip (8192) plus its 4096 output costs 20480/10 = 2048; a tile
        # reusing one strip moves 12288 -> 1228.8 < 1500 compute.
        # Raster (0,0) (0,1) (1,0) (1,1): 2048 + 1500 + 2048 + 1500.
        ("raster", 7096.0),
        # Snake (0,0) (0,1) (1,1) (1,0): only the first tile loads both.
        ("snake", 6548.0),
        # Columns (0,0) (1,0) (0,1) (1,1): column 1 starts with both new.
        ("raster_cols", 7096.0),
        # (0,0) (1,0) (1,1) (0,1): every later tile reuses one strip.
        ("snake_cols", 6548.0),
    ],
)
def test_example4_traversals_by_hand(traversal: str, expected: float) -> None:
    """Tests that each named traversal of example4 at [64,64,128] costs
    the hand-derived latency, in the oracle and the reference."""
    problem = load_problem("example4")
    view = SubgraphView(problem, [0])
    grain = Grain(64, 64, 128)
    fast = view_cost(view, grain, traversal)
    ref = reference_cost(view, grain, traversal_permutation(traversal, 2, 2))
    assert math.isclose(fast.latency, expected, rel_tol=1e-12)
    assert math.isclose(ref.latency, expected, rel_tol=1e-12)


def test_unknown_traversal_is_rejected() -> None:
    """Tests that the oracle and the permutation builder reject an unknown
    traversal name instead of silently using raster."""
    view = SubgraphView(load_problem("example4"), [0])
    with pytest.raises(ValueError, match="zigzag"):
        view_cost(view, Grain(64, 64, 128), "zigzag")
    with pytest.raises(ValueError, match="zigzag"):
        traversal_permutation("zigzag", 2, 2)


# (a) The corpus --------------------------------------------------------


def test_oracle_matches_reference_on_corpus(
    valid_case: dict[str, Any], problem_of: ProblemOf
) -> None:
    """Tests that on every subgraph of a contest-valid corpus case the
    oracle equals the per-cell reference (raster for a null traversal,
    the named one when the order is a named traversal), and that the
    reference reproduces the corpus latency for any order."""
    problem = problem_of(valid_case["problem"])
    sol = valid_case["solution"]
    expected = valid_case["contest"]["subgraph_latencies"]
    retained_in: list[int] = []
    for s, ops in enumerate(sol["subgraphs"]):
        retain_out = sol["tensors_to_retain"][s]
        grain = Grain.of(sol["granularities"][s])
        order = sol["traversal_orders"][s]
        view = SubgraphView(problem, ops, retain_out, retained_in)
        ref = reference_cost(view, grain, order)
        assert math.isclose(ref.latency, expected[s], rel_tol=1e-9), s
        nw, nh = view.grid(grain)
        name = "raster" if order is None else named_traversal(order, nw, nh)
        if name is not None:
            fast = view_cost(view, grain, name)
            assert cost_mismatch(fast, ref) is None, (s, name)
            wrapped = subgraph_cost(
                problem, ops, grain, retained_in, retain_out, name
            )
            assert cost_mismatch(wrapped, ref) is None, (s, name)
        retained_in = retain_out


# (b) Seeded random property test ----------------------------------------

MIXED_SIZES = (96, 200, 130, 64, 128, 50, 33)
NATIVES = ((128, 128), (64, 128), (128, 96), (256, 128), (64, 64))
SEEDS = range(40)
PROBLEMS_PER_SEED = 10
GROUPS_PER_PROBLEM = 10


@dataclass(frozen=True)
class Case:
    """One valid (subgraph, granularity) drawn by the generator."""

    label: str
    view: SubgraphView
    grain: Grain


class _Builder:
    """Accumulates the lists of a problem as tensors and ops are added."""

    def __init__(self) -> None:
        self.widths: list[int] = []
        self.heights: list[int] = []
        self.inputs: list[list[int]] = []
        self.outputs: list[list[int]] = []
        self.op_types: list[str] = []
        self.base_costs: list[float] = []

    def tensor(self, h: int, w: int) -> int:
        self.heights.append(h)
        self.widths.append(w)
        return len(self.widths) - 1

    def shape(self, t: int) -> tuple[int, int]:
        return self.heights[t], self.widths[t]

    def op(self, kind: str, ins: list[int], cost: float) -> int:
        if kind == "MatMul":
            out = self.tensor(self.heights[ins[0]], self.widths[ins[1]])
        else:
            out = self.tensor(*self.shape(ins[0]))
        self.inputs.append(ins)
        self.outputs.append([out])
        self.op_types.append(kind)
        self.base_costs.append(cost)
        return out

    def problem(self, rng: random.Random) -> Problem:
        return Problem.model_validate(
            {
                "widths": self.widths,
                "heights": self.heights,
                "inputs": self.inputs,
                "outputs": self.outputs,
                "base_costs": self.base_costs,
                "op_types": self.op_types,
                # Capacity never binds: the oracle does not depend on it.
                "fast_memory_capacity": 10**12,
                "slow_memory_bandwidth": rng.choice((10, 7, 3.5, 1, 100)),
                "native_granularity": list(rng.choice(NATIVES)),
            }
        )


def random_dag(rng: random.Random) -> Problem:
    """A small DAG of MatMul and Pointwise ops, mostly a chain.

    Each op reads the newest tensor (70%) or an older one, so there are
    branches; operands are fresh graph inputs or, sometimes, existing
    tensors of the right shape (shared reads, A @ A, x + x). A third of
    the problems use one size for everything so MatMul chains with equal
    K (middle MatMuls) can be fused.
    """
    square = rng.random() < 0.3
    sizes = (rng.choice((32, 64, 96)),) if square else MIXED_SIZES
    b = _Builder()
    pool = [b.tensor(rng.choice(sizes), rng.choice(sizes))]

    def operand(h: int, w: int, avoid: int) -> int:
        same = [t for t in pool if b.shape(t) == (h, w) and t != avoid]
        if same and rng.random() < 0.3:
            return rng.choice(same)
        return b.tensor(h, w)

    for _ in range(rng.randint(1, 6)):
        x = pool[-1] if rng.random() < 0.7 else rng.choice(pool)
        hx, wx = b.shape(x)
        if rng.random() < 0.6:
            cost = rng.choice((500, 1000, 1500, 2000, 3000))
            if rng.random() < 0.45:  # x is the LHS
                if hx == wx and rng.random() < 0.15:
                    ins = [x, x]
                else:
                    ins = [x, operand(wx, rng.choice(sizes), x)]
            else:  # x is the RHS
                ins = [operand(rng.choice(sizes), hx, x), x]
            pool.append(b.op("MatMul", ins, cost))
        else:
            ins = [x]
            for _ in range(rng.choice((0, 0, 1, 2))):
                ins.append(
                    rng.choice([x, *pool])
                    if rng.random() < 0.2
                    else operand(hx, wx, -1)
                )
            ins = [t if b.shape(t) == (hx, wx) else x for t in ins]
            pool.append(b.op("Pointwise", ins, rng.choice((10, 100, 1000))))
    return b.problem(rng)


def mm_chain(rng: random.Random) -> Problem:
    """A chain of 3-4 square MatMuls (with middles when fused), each
    feeding the next on a random side, plus an optional Pointwise."""
    d = rng.choice((32, 64, 96))
    b = _Builder()
    x = b.tensor(d, d)
    if rng.random() < 0.3:
        x = b.op("Pointwise", [x], 100)
    for _ in range(rng.randint(3, 4)):
        other = b.tensor(d, d)
        ins = [x, other] if rng.random() < 0.5 else [other, x]
        x = b.op("MatMul", ins, rng.choice((500, 2000)))
    return b.problem(rng)


def _k_for_steps(rng: random.Random, k_slicing: int) -> int:
    """A reduction step k giving 1, 2, 3 or 5 k-steps (when possible)."""
    if k_slicing == 0:
        return rng.choice((1, 1, 7, 128))  # no MatMul: nk is 1 anyway
    target = rng.choice([n for n in (1, 2, 3, 5) if n <= k_slicing])
    lo = -(-k_slicing // target)  # smallest k with ceil(K/k) == target
    hi = lo
    while -(-k_slicing // (hi + 1)) == target and hi < 4 * k_slicing:
        hi += 1
    return rng.randint(lo, hi)


def _tile_side(rng: random.Random, native: int, size: int) -> int:
    """A tile side: native, whole-tensor, dividing or not (edge tiles)."""
    options = (
        rng.randint(1, native),
        size,  # one tile on this axis (if it fits)
        native,
        rng.choice((7, 16, 24, 32, 48, 64, 100, 128)),
        size // 2,
        size // 3 + 1,  # rarely divides: edge tiles
        size // rng.randint(4, 9),  # many tiles
        rng.randint(5, 24),
    )
    return max(1, min(native, rng.choice(options)))


def random_subgraph(
    rng: random.Random, problem: Problem, whole: bool
) -> tuple[SubgraphView, Grain] | None:
    """A random fused group with random P, R and granularity, if valid."""
    n = problem.num_ops
    if whole:
        ops = list(range(n))
    else:
        first = rng.randrange(n)
        ops = list(range(first, rng.randrange(first, n) + 1))
        if len(ops) > 2 and rng.random() < 0.3:
            ops = sorted(rng.sample(ops, rng.randint(1, len(ops))))
    produced = [t for o in ops for t in problem.outputs[o]]
    read = {t for o in ops for t in problem.inputs[o]}
    external = sorted(read - set(produced))
    retain_out = [t for t in produced if rng.random() < 0.25]
    retain_in = [t for t in external if rng.random() < 0.3]
    if rng.random() < 0.1:  # P holds a tensor the subgraph never reads
        unread = [
            t
            for t in range(problem.num_tensors)
            if t not in read and t not in produced
        ]
        retain_in += rng.sample(unread, min(1, len(unread)))
    view = SubgraphView(problem, ops, retain_out, retain_in)
    if not view.outputs:
        return None
    width, height = view.grid_shape
    w_native, h_native = problem.native_granularity
    w = _tile_side(rng, w_native, width)
    h = _tile_side(rng, h_native, height)
    k = _k_for_steps(rng, view.k_slicing)
    if view.matmuls and (whole or rng.random() < 0.25):
        # w = k = K: what chains of 3+ MatMuls or a middle one need.
        k = problem.k_op[view.matmuls[0]]
        if rng.random() < 0.7 and k <= w_native:
            w = k
    grain = Grain(w, h, k)
    if subgraph_violation(view, grain, "contest") is not None:
        return None
    return view, grain


@cache
def generated_cases(seed: int) -> tuple[Case, ...]:
    """The valid cases drawn from ``PROBLEMS_PER_SEED`` random problems."""
    rng = random.Random(seed)
    cases: list[Case] = []
    for i in range(PROBLEMS_PER_SEED):
        chain = i % 4 == 3
        problem = mm_chain(rng) if chain else random_dag(rng)
        for g in range(GROUPS_PER_PROBLEM):
            drawn = random_subgraph(rng, problem, whole=chain and g % 2 == 0)
            if drawn is not None:
                label = f"seed {seed} problem {i} group {g}"
                cases.append(Case(label, *drawn))
    return tuple(cases)


@pytest.mark.parametrize("seed", SEEDS)
def test_oracle_matches_reference_on_random_subgraphs(seed: int) -> None:
    """Tests that for random valid subgraphs the oracle equals the
    per-cell reference under all four traversals: latency, working set,
    grid, k-steps, compute/memory cell counts and times."""
    cases = generated_cases(seed)
    assert len(cases) >= 20
    for case in cases:
        nw, nh = case.view.grid(case.grain)
        for name in TRAVERSALS:
            order = traversal_permutation(name, nw, nh)
            ref = reference_cost(case.view, case.grain, order)
            fast = view_cost(case.view, case.grain, name)
            why = cost_mismatch(fast, ref)
            assert why is None, (
                f"{case.label} {name}: {why}; ops={case.view.ops} "
                f"grain={case.grain} P={sorted(case.view.retain_in)} "
                f"R={sorted(case.view.retain_out)} "
                f"problem={case.view.problem.model_dump()}"
            )
        raster = reference_cost(case.view, case.grain)
        assert cost_mismatch(view_cost(case.view, case.grain), raster) is None


def features(case: Case) -> set[str]:
    """The corner cases one generated case exercises."""
    view, grain = case.view, case.grain
    p = view.problem
    nw, nh = view.grid(grain)
    nk = view.num_k_steps(grain.k)
    width, height = view.grid_shape
    read = {t for o in view.ops for t in p.inputs[o]}
    found = {f"nk={nk}", *(f"role={r.value}" for r in view.roles.values())}
    flags = {
        "nw=1": nw == 1,
        "nh=1": nh == 1,
        "edge columns": width % grain.w != 0,
        "edge rows": height % grain.h != 0,
        "edge both, nk>1": width % grain.w and height % grain.h and nk > 1,
        "4x4+ grid": nw >= 4 and nh >= 4,
        "P read": bool(view.retain_in & read),
        "P unread": bool(view.retain_in - read),
        "R": bool(view.retain_out),
        "ephemeral": bool(view.ephemeral),
        "Pointwise feeds MatMul, nk>1": nk > 1
        and len(view.matmuls) < len(view.ops)
        and any(
            p.producer.get(t) in view.opset and not p.is_matmul[p.producer[t]]
            for m in view.matmuls
            for t in p.inputs[m]
        ),
        "head+tail, nk>1": nk > 1
        and any(r.is_head for r in view.roles.values()),
        "3+ MatMuls": len(view.matmuls) >= 3,
        "shared input": len({u.tensor for u in view.uses}) < len(view.uses),
    }
    return found | {name for name, on in flags.items() if on}


def test_random_generator_covers_corner_cases() -> None:
    """Tests that the random property test really exercises each corner
    case (so a generator change cannot quietly weaken it): at least 200
    problems, every role, nk in {1, 2, 3, 5}, single-row/column grids,
    edge tiles, P and R sets."""
    seen: Counter[str] = Counter()
    problems = set()
    for seed in SEEDS:
        for case in generated_cases(seed):
            problems.add(case.label.rsplit(" group", 1)[0])
            seen.update(features(case))
    assert len(problems) >= 200
    required = {
        *(f"nk={n}" for n in (1, 2, 3, 5)),
        *(f"role={r.value}" for r in Role),
        "nw=1",
        "nh=1",
        "edge columns",
        "edge rows",
        "edge both, nk>1",
        "4x4+ grid",
        "P read",
        "P unread",
        "R",
        "ephemeral",
        "Pointwise feeds MatMul, nk>1",
        "head+tail, nk>1",
        "3+ MatMuls",
        "shared input",
    }
    rare = {name: seen[name] for name in required if seen[name] < 5}
    assert not rare, f"too few cases of {rare}; seen {dict(seen)}"
