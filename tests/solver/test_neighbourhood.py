"""Connected neighbourhoods: which subgraphs they gather, how the
schedule is moved to make them one window, and that the moved schedule
is valid at the same latency."""

from __future__ import annotations

import math

import pytest

from mlsched import evaluate, generate
from mlsched.heuristics.start import list_start
from mlsched.model import Grain, Problem
from mlsched.model.schedule import Step, to_solution
from mlsched.solver.lns import Window
from mlsched.solver.neighbourhood import StepGraph, neighbourhood
from tests.conftest import problem_of
from tests.generators import hand_problem

GRAIN = Grain(128, 128, 1)

# Five Pointwise ops on 128x128 tensors. Op 0 and op 1 read the graph
# input t0 and write t1 and t2 (a shared input links them); op 2 reads
# t1, op 3 reads t2, op 4 reads t9 (another graph input) alone.
FORK: Problem = problem_of(
    hand_problem(
        [(128, 128)] * 10,
        [
            ("Pointwise", [0], 1, 100),
            ("Pointwise", [0], 2, 100),
            ("Pointwise", [1], 3, 100),
            ("Pointwise", [2], 4, 100),
            ("Pointwise", [9], 5, 100),
        ],
    )
)


def steps_of(
    groups: list[tuple[int, ...]], retains: dict[int, int]
) -> list[Step]:
    """One step per op group; step i retains tensor ``retains[i]``."""
    return [
        Step(ops, GRAIN, "raster", (retains[i],) if i in retains else ())
        for i, ops in enumerate(groups)
    ]


@pytest.mark.parametrize(
    ("groups", "retains", "seed", "ops", "order", "window"),
    [
        # Op 4 runs between op 0 and its reader op 2, linked to neither:
        # the block is ops 0 and 2 (seed 0 grows to its reader first).
        ([(0,), (4,), (2,), (1,), (3,)], {}, 0, 2, [0, 2, 1, 3, 4], (0, 2)),
        # Seed op 3 grows to its producer op 1 (step 3) at the end; op 0
        # and op 2 lead nowhere into it and stay behind the block.
        ([(0,), (2,), (4,), (1,), (3,)], {}, 4, 2, [3, 4, 0, 1, 2], (0, 2)),
        # One op asked: the seed alone. Op 1 (step 0) leads to it and
        # stays first.
        ([(1,), (0,), (2,), (3,)], {}, 3, 1, [0, 3, 1, 2], (1, 2)),
        # Op 0 retains t1 into op 2: the pair moves as one.
        ([(0,), (2,), (4,), (1,)], {0: 1}, 0, 1, [0, 1, 2, 3], (0, 2)),
    ],
)
def test_neighbourhood_moves_a_linked_block(
    groups: list[tuple[int, ...]],
    retains: dict[int, int],
    seed: int,
    ops: int,
    order: list[int],
    window: tuple[int, int],
) -> None:
    """Tests that a neighbourhood gathers the seed's linked subgraphs
    (and retention partners), puts what leads to it first and the rest
    after, each in its old order, and names the block as a window."""
    steps = steps_of(groups, retains)
    block = neighbourhood(FORK, steps, seed, ops)
    assert block is not None
    assert list(block.steps) == [steps[i] for i in order]
    assert block.window == Window(*window)


def test_neighbourhood_refuses_to_split_a_retention_pair() -> None:
    """Tests that no block is made when a subgraph that leads to the
    neighbourhood retains into one that does not: moving the block
    between them would break the pair."""
    # Step 0 runs ops 0 and 1 (a shared input connects them) and retains
    # t1 into op 2; the seed, op 3, needs op 1's t2 but not op 2.
    steps = steps_of([(0, 1), (2,), (3,)], {0: 1})
    assert neighbourhood(FORK, steps, 2, 1) is None


def test_closure_takes_in_paths_between_members() -> None:
    """Tests that a subgraph on a path from one member to another joins
    the neighbourhood, so that the block can run contiguously, and that
    one linked to a member only by a shared input does not."""
    # Chain t0 -> op 0 -> t1 -> op 1 -> t2 -> op 2 -> t3; op 3 also reads
    # t0. Members: the steps of ops 0 and 2. Op 1 lies on the path
    # between them; op 3 shares an input with op 0 but lies on no path.
    chain = problem_of(
        hand_problem(
            [(128, 128)] * 5,
            [
                ("Pointwise", [0], 1, 100),
                ("Pointwise", [1], 2, 100),
                ("Pointwise", [2], 3, 100),
                ("Pointwise", [0], 4, 100),
            ],
        )
    )
    steps = steps_of([(0,), (3,), (1,), (2,)], {})
    assert StepGraph(chain, steps).close({0, 3}) == {0, 2, 3}


def test_moved_schedules_are_valid_at_the_same_latency() -> None:
    """Tests that every neighbourhood of a generated decoder's list
    schedule (with retention pairs) moves to a valid schedule of exactly
    the same latency, with the seed inside the block."""
    problem = generate("llama", ops=60, seed=1)
    begin = list_start(problem, "strict")
    steps = list(begin.steps)
    assert any(s.retain for s in steps)
    moved = 0
    for seed in range(len(steps)):
        block = neighbourhood(problem, steps, seed, 12)
        if block is None:
            continue
        moved += 1
        w = block.window
        assert steps[seed] in block.steps[w.start : w.stop]
        ev = evaluate(problem, to_solution(problem, block.steps), "strict")
        assert ev.valid, ev.message
        assert math.isclose(ev.total_latency, begin.objective, rel_tol=1e-12)
    assert moved > len(steps) // 2
