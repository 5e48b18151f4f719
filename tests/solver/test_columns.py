"""ColumnGenerator: the candidate subgraphs of the CP-SAT column model.

A column fixes (ops, P, R) and carries a granularity and its latency. The
master model trusts columns blindly: it never re-checks validity, it adds
the column's latency to the objective, and its retention constraints
assume that a tensor retained out of a column is read only outside it and
that a column receiving a tensor holds every reader of it. These tests
check those promises against the evaluator's rule checks, the per-cell
reference simulation (SPEC §5) and graph facts recomputed here from the
problem's fields.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest
from generators import random_problem
from solver_setup import heuristic_columns

from mlsched import Problem, load_problem
from mlsched.heuristics import GranularityOptimizer, ListScheduler
from mlsched.model import (
    SubgraphView,
    reference_cost,
    subgraph_violation,
    traversal_permutation,
    view_cost,
)
from mlsched.solver import Column, ColumnGenerator, schedule_columns
from mlsched.solver.columns import refine

RULES = ("strict", "contest")
INSTANCES = (
    "example1",  # two Pointwise ops in a chain
    "example2",  # MatMul then Pointwise
    "example3",  # three Pointwise ops sharing T1
    "example4",  # one MatMul, tight capacity
    "example5",  # MatMul chain, retention pays
    "example_problem",  # two Pointwise ops, capacity forces 128x64
    "mlsys-2026-1",  # 5 ops, 3 MatMuls
    "mlsys-2026-4",  # 5 ops, 25 retention contexts
    "mlsys-2026-6",  # 17 ops, contexts but no heuristic retention
    "mlsys-2026-7",  # 15 ops, no retention context at all
)


def descendants(problem: Problem, op: int) -> set[int]:
    """Ops reachable from ``op`` along producer -> consumer edges."""
    seen: set[int] = set()
    todo = [op]
    while todo:
        o = todo.pop()
        for t in problem.outputs[o]:
            for c in problem.consumers[t]:
                if c not in seen:
                    seen.add(c)
                    todo.append(c)
    return seen


def check_structure(problem: Problem, col: Column) -> None:
    """Assert the graph facts the master model relies on."""
    ops = col.ops
    opset = set(ops)
    assert len(opset) == len(ops), f"duplicate op in {ops}"
    produced = {t for o in ops for t in problem.outputs[o]}
    for i, o in enumerate(ops):
        for t in problem.inputs[o]:
            src = problem.producer.get(t)
            if src in opset:
                assert ops.index(src) < i, f"{ops}: {src} after {o}"
    # Closed: a tensor passed inside has all its readers inside.
    for t in produced:
        readers = set(problem.consumers[t])
        if readers & opset:
            assert readers <= opset, f"{ops}: tensor {t} leaks out"
    # Convex: no path leaves the column and comes back.
    for o in set(range(problem.num_ops)) - opset:
        below = descendants(problem, o)
        above = any(o in descendants(problem, c) for c in ops)
        assert not (above and below & opset), f"{ops} not convex at {o}"
    for t in col.retain_out:
        assert t in produced
        assert t not in problem.graph_outputs
        readers = set(problem.consumers[t])
        assert readers, f"{ops} retains unread tensor {t}"
        assert not readers & opset, f"{ops} retains {t} it reads itself"
    for t in col.retain_in:
        assert problem.producer[t] not in opset
        # Both profiles: a later reader would load a tensor that was
        # never written back (SPEC §8 item 5 checks it in strict only).
        assert set(problem.consumers[t]) <= opset, f"{ops} misses readers"


def check_cost(problem: Problem, col: Column, rules: str) -> None:
    """Assert the column is valid and its latency exact."""
    view = SubgraphView(problem, col.ops, col.retain_out, col.retain_in)
    grain = col.choice.grain
    assert subgraph_violation(view, grain, rules) is None
    latency = view_cost(view, grain, col.choice.traversal).latency
    assert math.isclose(col.latency, latency, rel_tol=1e-12)
    nw, nh = view.grid(grain)
    order = traversal_permutation(col.choice.traversal, nw, nh)
    reference = reference_cost(view, grain, order).latency
    assert math.isclose(col.latency, reference, rel_tol=1e-9)


def check_step(col: Column) -> None:
    """Assert ``Column.step`` carries the column's decisions."""
    step = col.step()
    assert step.ops == col.ops
    assert step.grain == col.choice.grain
    assert step.traversal == col.choice.traversal
    assert set(step.retain) == col.retain_out
    assert len(step.retain) == len(col.retain_out)


def check_columns(
    problem: Problem, rules: str, columns: Sequence[Column]
) -> None:
    """Every property of a column list, one column at a time."""
    keys = [(c.ops, c.retain_in, c.retain_out) for c in columns]
    assert len(set(keys)) == len(keys), "duplicate column"
    for col in columns:
        check_structure(problem, col)
        check_cost(problem, col, rules)
        check_step(col)


@pytest.mark.parametrize("refined", [False, True])
@pytest.mark.parametrize("rules", RULES)
@pytest.mark.parametrize("name", INSTANCES)
def test_bundled_columns(name: str, rules: str, refined: bool) -> None:
    """Tests that every column of a bundled instance is valid, exactly
    costed (class oracle and per-cell reference) and structurally sound,
    and that every op has a single-op column without retention, before
    and after the fine-grain refinement."""
    problem = load_problem(name)
    _, columns = heuristic_columns(problem, rules, refined)
    check_columns(problem, rules, columns)
    none: frozenset[int] = frozenset()
    keys = {(c.ops, c.retain_in, c.retain_out) for c in columns}
    for o in range(problem.num_ops):
        assert ((o,), none, none) in keys, f"op {o} has no single column"


@pytest.mark.parametrize("rules", RULES)
@pytest.mark.parametrize("seed", range(12))
def test_random_columns(seed: int, rules: str) -> None:
    """Tests the column properties on random problems of 3-14 ops
    (odd sizes, edge tiles, tight capacities, shared inputs), refined."""
    problem = load_problem(random_problem(random.Random(seed)))
    _, columns = heuristic_columns(problem, rules, refined=True)
    check_columns(problem, rules, columns)
    singles = {c.ops for c in columns if len(c.ops) == 1}
    assert singles == {(o,) for o in range(problem.num_ops)}


@pytest.mark.parametrize("rules", RULES)
@pytest.mark.parametrize(
    "name",
    [
        "example3",  # the heuristic fuses all three ops
        "example5",  # the heuristic retains T3 between the MatMuls
        "mlsys-2026-4",  # two heuristic steps retain a tensor
    ],
)
def test_heuristic_steps_are_columns(name: str, rules: str) -> None:
    """Tests that each heuristic step is a column in its exact retention
    context, with the heuristic's own granularity and latency."""
    problem = load_problem(name)
    steps, columns = heuristic_columns(problem, rules)
    by_key = {(c.ops, c.retain_in, c.retain_out): c for c in columns}
    retain_in: frozenset[int] = frozenset()
    for step in steps:
        col = by_key[(step.ops, retain_in, frozenset(step.retain))]
        assert col.choice.grain == step.grain
        assert col.choice.traversal == step.traversal
        view = SubgraphView(problem, step.ops, step.retain, retain_in)
        cost = view_cost(view, step.grain, step.traversal).latency
        assert math.isclose(col.latency, cost, rel_tol=1e-12)
        retain_in = frozenset(step.retain)


def test_example3_regions() -> None:
    """Tests the regions of SPEC example 3 (op 0: T0 -> T1, op 1: T1 ->
    T2, op 2: T1, T2 -> T3; all Pointwise, 128x128, base cost 1500,
    bandwidth 10, capacity 50000).

    T1 is read by ops 1 and 2, so a region holding op 0 and exactly one
    of them passes T1 inside while a reader sits outside: not closed.
    Legal multi-op regions are {1, 2} (T2 passed inside) and {0, 1, 2}.
    Both save: {1, 2} at [128,128,1] loads T1 once (free reuse, SPEC
    §5.2) and stores T3: max(3000, 3276.8) = 3276.8 < 3276.8 + 4915.2
    (the lone ops); {0, 1, 2} costs max(4500, 3276.8) = 4500 < 11468.8.
    """
    problem = load_problem("example3")
    optimizer = GranularityOptimizer(problem, "strict")
    generator = ColumnGenerator(problem, optimizer)
    regions = set(generator.regions())
    assert regions == {(0,), (1,), (2,), (1, 2), (0, 1, 2)}
    pair, triple = generator.cost((1, 2)), generator.cost((0, 1, 2))
    assert pair is not None and triple is not None
    assert math.isclose(pair.latency, 3276.8, rel_tol=1e-12)
    assert math.isclose(triple.latency, 4500.0, rel_tol=1e-12)


def test_max_columns_caps_contexts() -> None:
    """Tests that ``max_columns`` stops the retention contexts but never
    drops a retention-free region column or a required column."""
    problem = load_problem("mlsys-2026-4")
    optimizer = GranularityOptimizer(problem, "strict")
    steps = ListScheduler(problem, "strict", optimizer).schedule()
    required = schedule_columns(problem, steps)
    full = ColumnGenerator(problem, optimizer)
    regions = full.regions([s.ops for s in steps])
    all_columns = full.columns(regions, required)
    capped = ColumnGenerator(problem, optimizer, max_columns=1)
    few = capped.columns(regions, required)
    with_context = [c for c in all_columns if c.retain_in or c.retain_out]
    assert with_context, "the instance should have retention contexts"
    assert len(few) < len(all_columns)
    plain = {c.ops for c in few if not (c.retain_in or c.retain_out)}
    assert all(
        c.ops in plain
        for c in all_columns
        if not (c.retain_in or c.retain_out)
    )
    keys = {(c.ops, c.retain_in, c.retain_out) for c in few}
    for col in required:
        assert (col.ops, col.retain_in, col.retain_out) in keys


@pytest.mark.parametrize("rules", RULES)
@pytest.mark.parametrize(
    "name",
    [
        "mlsys-2026-2",  # the 5-op region drops from 52000 to 39000
        "mlsys-2026-7",  # 9 (strict) or 16 (contest) columns improve
        "mlsys-2026-8",  # 196 columns, many retention contexts
    ],
)
def test_refine_never_worse(name: str, rules: str) -> None:
    """Tests that refinement keeps every column's (ops, P, R), in order,
    and never raises a latency."""
    problem = load_problem(name)
    _, columns = heuristic_columns(problem, rules)
    fine = GranularityOptimizer(problem, rules, fine=True)
    refined = refine(columns, fine)
    assert len(refined) == len(columns)
    for old, new in zip(columns, refined, strict=True):
        assert (new.ops, new.retain_in, new.retain_out) == (
            old.ops,
            old.retain_in,
            old.retain_out,
        )
        assert new.latency <= old.latency


def test_refine_stops_at_deadline() -> None:
    """Tests that a passed deadline returns the columns unchanged, on an
    instance where refinement without a deadline changes some."""
    problem = load_problem("mlsys-2026-5")
    _, columns = heuristic_columns(problem, "strict")
    fine = GranularityOptimizer(problem, "strict", fine=True)
    assert refine(columns, fine, deadline=0.0) == columns
    assert refine(columns, fine) != columns
