"""The master's LP relaxation, its prices and column generation."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from generators import hand_problem, random_problem
from solver_setup import heuristic_columns

from mlsched import Problem, load_problem
from mlsched.heuristics import GranularityOptimizer
from mlsched.solver import Column, ColumnGenerator
from mlsched.solver.pricing import (
    Pricer,
    price_columns,
    solve_relaxation,
)

RULES = ("strict", "contest")

# A chain of three 128x128 Pointwise ops, bandwidth 10, ample memory:
#   T0 -> op 0 -> T1 -> op 1 -> T2 -> op 2 -> T3  (base costs 3000, 100, 100)
# Every subgraph is one native tile; a 128x128 slice moves in 1638.4.
# Alone, each op loads one slice and stores one: max(3000, 3276.8),
# max(100, 3276.8), max(100, 3276.8) = 3276.8 each. A fused pair or the
# whole chain also loads one slice and stores one (the tensors between
# its ops are ephemeral): {0, 1} max(3100, 3276.8), {1, 2} and {0, 1, 2}
# likewise cost 3276.8. With singles and pairs only, the best cover is a
# pair and a single: 6553.6. The whole chain costs 3276.8, and retention
# does not reach it: {0, 1} keeping T2 for {2} costs max(3100, 1638.4)
# + max(100, 1638.4) = 4738.4, {0} keeping T1 for {1, 2} costs
# max(3000, 1638.4) + max(200, 1638.4) = 4638.4. The optimum is the one
# column {0, 1, 2}, at 3276.8.
CHAIN = hand_problem(
    [(128, 128)] * 4,
    [
        ("Pointwise", [0], 1, 3000),
        ("Pointwise", [1], 2, 100),
        ("Pointwise", [2], 3, 100),
    ],
    capacity=10**6,
)
CHAIN_START = 6553.6
CHAIN_OPTIMUM = 3276.8


def chain_setup(rules: str) -> tuple[Problem, ColumnGenerator, list[Column]]:
    """The chain, its generator, and its singles and pairs as columns."""
    problem = load_problem(CHAIN)
    generator = ColumnGenerator(problem, GranularityOptimizer(problem, rules))
    none: frozenset[int] = frozenset()
    columns = []
    for ops in [(0,), (1,), (2,), (0, 1), (1, 2)]:
        choice = generator.cost(ops)
        assert choice is not None
        columns.append(Column(ops, none, none, choice))
    return problem, generator, columns


@pytest.mark.parametrize("rules", RULES)
def test_pricing_finds_the_missing_column(rules: str) -> None:
    """Tests that pricing adds the whole chain, which the initial columns
    miss, and that the LP then reaches the hand-derived optimum."""
    problem, generator, columns = chain_setup(rules)
    start = solve_relaxation(problem, columns)
    assert start is not None
    assert start.value == pytest.approx(CHAIN_START)
    priced = price_columns(problem, generator, columns, math.inf)
    assert priced.settled
    assert (0, 1, 2) in {c.ops for c in priced.columns[len(columns) :]}
    assert priced.bound == pytest.approx(CHAIN_OPTIMUM)
    # The LP's optimum is the one column: integral, so a schedule.
    assert priced.schedule is not None
    assert [s.ops for s in priced.schedule] == [(0, 1, 2)]


@pytest.mark.parametrize("rules", RULES)
def test_lp_optimum_equals_the_sum_of_duals(rules: str) -> None:
    """Tests that on a covering instance (no retention) the LP optimum
    equals the sum of the coverage duals, and that no column prices
    below zero at the optimum."""
    problem, _, columns = chain_setup(rules)
    lp = solve_relaxation(problem, columns)
    assert lp is not None
    assert not lp.duals.retain
    assert sum(lp.duals.cover.values()) == pytest.approx(lp.value)
    for col in columns:
        assert lp.duals.reduced_cost(col) >= -1e-6 * col.latency


def priced_instances() -> list[tuple[str, Problem]]:
    """Benchmarks with retention contexts and random problems."""
    named = [(n, load_problem(n)) for n in ("mlsys-2026-4", "mlsys-2026-8")]
    rng = random.Random(11)
    drawn = [
        (f"random-{i}", load_problem(random_problem(rng))) for i in range(6)
    ]
    return named + drawn


@pytest.mark.parametrize(
    ("name", "rules"),
    list(itertools.product([n for n, _ in priced_instances()], RULES)),
)
def test_pricing_adds_only_negative_reduced_costs(
    name: str, rules: str
) -> None:
    """Tests that every column pricing adds is new and has a negative
    reduced cost under the duals it was priced with."""
    problem = dict(priced_instances())[name]
    generator = ColumnGenerator(problem, GranularityOptimizer(problem, rules))
    pricer = Pricer(problem, generator)
    # Single ops only: far from the optimum, so pricing has work to do.
    columns = pricer.plain([(o,) for o in range(problem.num_ops)])
    added = 0
    known = {(c.ops, c.retain_in, c.retain_out) for c in columns}
    for _ in range(4):
        lp = solve_relaxation(problem, columns)
        assert lp is not None
        new = pricer.price(columns, lp)
        for col in new:
            assert (col.ops, col.retain_in, col.retain_out) not in known
            assert lp.duals.reduced_cost(col) < 0
        if not new:
            break
        columns += new
        added += len(new)
        known |= {(c.ops, c.retain_in, c.retain_out) for c in new}
    # The benchmarks have fusable ops in both profiles.
    assert added > 0 or not name.startswith("mlsys")


@pytest.mark.parametrize("rules", RULES)
def test_pricing_never_raises_the_lp_value(rules: str) -> None:
    """Tests that the LP value after pricing is at most the LP value over
    the enumerated columns (pricing only adds columns)."""
    problem = load_problem("mlsys-2026-8")
    _, columns = heuristic_columns(problem, rules)
    start = solve_relaxation(problem, columns)
    assert start is not None
    generator = ColumnGenerator(problem, GranularityOptimizer(problem, rules))
    priced = price_columns(problem, generator, columns, math.inf)
    assert priced.settled and priced.bound is not None
    assert priced.bound <= start.value * (1 + 1e-9)


@pytest.mark.parametrize("rules", RULES)
def test_sharpen_only_lowers_latencies(rules: str) -> None:
    """Tests that re-costing the columns near zero reduced cost among fine
    tile sizes keeps every column's context, never raises a latency,
    lowers some on coarse columns, and never raises the LP value."""
    problem = load_problem("mlsys-2026-5")
    _, columns = heuristic_columns(problem, rules)
    generator = ColumnGenerator(problem, GranularityOptimizer(problem, rules))
    fine = GranularityOptimizer(problem, rules, fine=True)
    pricer = Pricer(problem, generator, fine=fine)
    lp = solve_relaxation(problem, columns)
    assert lp is not None
    sharp, better = pricer.sharpen(columns, lp, math.inf)
    keys = [(c.ops, c.retain_in, c.retain_out) for c in columns]
    assert [(c.ops, c.retain_in, c.retain_out) for c in sharp] == keys
    assert all(
        s.latency <= c.latency for s, c in zip(sharp, columns, strict=True)
    )
    lowered = sum(
        s.latency < c.latency for s, c in zip(sharp, columns, strict=True)
    )
    assert better == lowered > 0
    after = solve_relaxation(problem, sharp)
    assert after is not None and after.value <= lp.value * (1 + 1e-9)


@pytest.mark.parametrize("rules", RULES)
def test_pricing_inside_a_window(rules: str) -> None:
    """Tests that pricing restricted to a window (ops 1 and 2 of the
    chain) adds the fused pair, never a column holding op 0, and that
    its LP reaches the window's optimum."""
    # Ops 1 and 2 alone cost 3276.8 each (6553.6); fused, T2 is
    # ephemeral and {1, 2} loads T1 and stores T3: 3276.8.
    problem, generator, columns = chain_setup(rules)
    window = frozenset({1, 2})
    inside = [c for c in columns if c.ops in {(1,), (2,)}]
    priced = price_columns(problem, generator, inside, math.inf, ops=window)
    assert all(set(c.ops) <= window for c in priced.columns)
    assert (1, 2) in {c.ops for c in priced.columns}
    assert priced.bound == pytest.approx(3276.8)
    assert priced.schedule is not None
    assert [s.ops for s in priced.schedule] == [(1, 2)]
