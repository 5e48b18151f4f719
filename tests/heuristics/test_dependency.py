"""DependencyAnalyzer on a hand-made five-op problem.

Op ids are deliberately not in topological order. Tensors (w x h, i.e.
columns x rows), native [128, 128], bandwidth 10::

    T0 256x128 input  --op2 (PW, 100)--> T2 256x128
    T2 (LHS), T1 64x256 (RHS) --op0 (MM, 10000)--> T3 64x128
    T2 (LHS), T7 64x256 (RHS) --op3 (MM, 2000)---> T4 64x128
    T3, T4 --op1 (PW, 500)--> T5 64x128   (graph output)
    T0 --op4 (PW, 4000)--> T6 256x128      (graph output)
    T8 32x32: neither produced nor read (ignored)

So T0 is a graph input shared by op2 and op4, and T2 fans out to the
two MatMuls op0 and op3. Edges: 2 -> 0, 2 -> 3, 0 -> 1, 3 -> 1.
"""

from __future__ import annotations

import itertools

import pytest

from mlsched import Problem, load_problem
from mlsched.heuristics import DependencyAnalyzer, GranularityOptimizer

PROBLEM = {
    "widths": [256, 64, 256, 64, 64, 64, 256, 64, 32],
    "heights": [128, 256, 128, 128, 128, 128, 128, 256, 32],
    "inputs": [[2, 1], [3, 4], [0], [2, 7], [0]],
    "outputs": [[3], [5], [2], [4], [6]],
    "base_costs": [10000, 500, 100, 2000, 4000],
    "op_types": ["MatMul", "Pointwise", "Pointwise", "MatMul", "Pointwise"],
    "fast_memory_capacity": 100000,
    "slow_memory_bandwidth": 10,
    "native_granularity": [128, 128],
}


@pytest.fixture(name="problem")
def problem_fixture() -> Problem:
    """The five-op problem of the module docstring."""
    return load_problem(PROBLEM)


@pytest.fixture(name="deps")
def deps_fixture(problem: Problem) -> DependencyAnalyzer:
    """A DependencyAnalyzer of the five-op problem."""
    return DependencyAnalyzer(problem)


def test_producers_and_consumers(deps: DependencyAnalyzer) -> None:
    """Tests that producers and consumers follow the op lists."""
    assert deps.producer == {3: 0, 5: 1, 2: 2, 4: 3, 6: 4}
    assert deps.consumers == (
        (2, 4),  # T0: shared graph input
        (0,),  # T1
        (0, 3),  # T2: fan-out to both MatMuls
        (1,),  # T3
        (1,),  # T4
        (),  # T5: graph output
        (),  # T6: graph output
        (3,),  # T7
        (),  # T8: unused
    )


def test_graph_inputs_and_outputs(deps: DependencyAnalyzer) -> None:
    """Tests that the unused tensor T8 is neither input nor output."""
    assert deps.graph_inputs == frozenset({0, 1, 7})
    assert deps.graph_outputs == frozenset({5, 6})


def test_topological_order(deps: DependencyAnalyzer) -> None:
    """Tests that the order takes the smallest ready op id first.

    Ready at first: {2, 4} -> 2; then {0, 3, 4} -> 0 (op1 still waits
    for op3); {3, 4} -> 3; {1, 4} -> 1; then 4.
    """
    assert deps.topological_order == (2, 0, 3, 1, 4)
    assert deps.rank == {2: 0, 0: 1, 3: 2, 1: 3, 4: 4}


def test_successors_and_predecessors(deps: DependencyAnalyzer) -> None:
    """Tests that successors and predecessors are the data edges."""
    assert deps.successors == ((1,), (), (0, 3), (1,), ())
    assert deps.predecessors == ((2,), (0, 3), (), (2,), ())
    assert deps.edges() == [(0, 1, 3), (2, 0, 2), (2, 3, 2), (3, 1, 4)]


def test_native_cost(deps: DependencyAnalyzer) -> None:
    """Tests the roofline estimate max(base x tiles, moved / bandwidth).

    op0: out 64x128 = 1 tile -> 10000; moved 32768 + 16384 + 8192 =
         57344 -> 5734.4; max 10000.
    op1: 1 tile -> 500; moved 3 x 8192 -> 2457.6.
    op2: out 256x128 = 2 tiles -> 200; moved 2 x 32768 -> 6553.6.
    op3: 1 tile -> 2000; moved 57344 -> 5734.4.
    op4: 2 tiles -> 8000; moved 65536 -> 6553.6; max 8000.
    """
    assert deps.native_cost == pytest.approx(
        (10000.0, 2457.6, 6553.6, 5734.4, 8000.0), rel=1e-12
    )


def test_critical_path_depth(deps: DependencyAnalyzer) -> None:
    """Tests that depth is the costliest native-cost path to an end.

    op1 = 2457.6 and op4 = 8000 end paths; op3 = 5734.4 + 2457.6 =
    8192; op0 = 10000 + 2457.6 = 12457.6; op2 = 6553.6 + max(12457.6,
    8192) = 19011.2.
    """
    assert deps.depth == pytest.approx(
        (12457.6, 2457.6, 19011.2, 8192.0, 8000.0), rel=1e-12
    )


def test_descendant_and_ancestor_masks(deps: DependencyAnalyzer) -> None:
    """Tests the reachability bitmasks (bit i = op i, itself excluded).

    Descendants: op2 reaches 0, 3, 1 -> 0b1011 = 11; op0 and op3 reach
    op1 -> 0b10 = 2. Ancestors: op1 is reached from 0, 2, 3 -> 0b1101 =
    13; op0 and op3 from op2 -> 0b100 = 4.
    """
    assert deps.descendants == (2, 0, 11, 2, 0)
    assert deps.ancestors == (4, 13, 0, 4, 0)


@pytest.mark.parametrize(
    ("ops", "convex"),
    [
        ({2, 0, 3}, True),  # op2 and both of its readers
        ({2, 0}, True),  # a producer-consumer pair
        ({4, 2}, True),  # unconnected, but no path leaves and returns
        ({1}, True),  # a single op
        ({2, 1}, False),  # 2 -> 0 -> 1 leaves the set and comes back
        ({2, 0, 1}, False),  # 2 -> 3 -> 1 passes outside through op3
    ],
)
def test_is_convex(
    deps: DependencyAnalyzer, ops: set[int], convex: bool
) -> None:
    """Tests that a set is convex iff no path leaves and re-enters it."""
    assert deps.is_convex(ops) is convex


@pytest.mark.parametrize(
    ("ops", "closed"),
    [
        ({2, 0, 3}, True),  # T2 has both readers inside
        ({0, 1}, True),  # T3 read only by op1
        ({2, 4}, True),  # sharing graph input T0 passes nothing inside
        ({2, 0}, False),  # T2 is read inside (op0) and outside (op3)
        ({2, 0, 1}, False),  # same: op3 is still outside
    ],
)
def test_is_closed(
    deps: DependencyAnalyzer, ops: set[int], closed: bool
) -> None:
    """Tests that a set is closed iff inner tensors have no outer reader."""
    assert deps.is_closed(ops) is closed


def test_is_closed_on_every_op_set(
    problem: Problem, deps: DependencyAnalyzer
) -> None:
    """Tests that is_closed agrees with SPEC §4 item 6 read literally on
    all 31 non-empty op sets: no tensor produced in the set has readers
    both inside and outside it (as lists, duplicates included)."""
    for r in range(1, problem.num_ops + 1):
        for ops in itertools.combinations(range(problem.num_ops), r):
            inside = set(ops)
            split = any(
                inside & set(problem.consumers[t])
                and set(problem.consumers[t]) - inside
                for o in ops
                for t in problem.outputs[o]
            )
            assert deps.is_closed(ops) is not split, ops
            assert deps.is_closed([*ops, *ops]) is not split, ops


def fusable_edges(
    deps: DependencyAnalyzer, optimizer: GranularityOptimizer
) -> list[tuple[int, int, int]]:
    """Edges whose two ops form a valid subgraph at some granularity."""
    return [
        (o, c, t)
        for o, c, t in deps.edges()
        if optimizer.best(deps.in_order((o, c))) is not None
    ]


def test_fusable_edges_strict(
    problem: Problem, deps: DependencyAnalyzer
) -> None:
    """Tests that strict rules cannot fuse a Pointwise LHS with K = 256.

    Fusing op2 into op0 (or op3) makes T2 an ephemeral Pointwise LHS of a
    MatMul with K = 256. With k-steps > 1 that needs w >= 256, above the
    native 128; one k-step needs k = 256 > k_native = 128, which strict
    forbids. The MM -> PW edges (0, 1) and (3, 1) fit easily.
    """
    optimizer = GranularityOptimizer(problem, "strict")
    assert fusable_edges(deps, optimizer) == [(0, 1, 3), (3, 1, 4)]


def test_fusable_edges_contest(
    problem: Problem, deps: DependencyAnalyzer
) -> None:
    """Tests that contest rules fuse the Pointwise LHS at k = K = 256.

    [w, h, k] = [64, 128, 256] is one tile with one k-step; working set
    T0 slice 128*64 + RHS K*w = 256*64 + output 128*64 = 32768, within
    the capacity of 100000.
    """
    optimizer = GranularityOptimizer(problem, "contest")
    assert fusable_edges(deps, optimizer) == deps.edges()
    choice = optimizer.best([2, 0])
    assert choice is not None
    assert choice.grain.k == 256
