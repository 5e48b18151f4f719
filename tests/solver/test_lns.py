"""Large-neighbourhood windows: where they start and stop, and that a
re-solved window splices back into a valid, no worse schedule."""

from __future__ import annotations

import math

import pytest

from mlsched import evaluate, load_problem
from mlsched.heuristics import GranularityOptimizer
from mlsched.heuristics.start import list_start
from mlsched.model import Grain
from mlsched.model.schedule import Step, to_solution
from mlsched.solver.lns import Window, WindowSearch, window_at
from mlsched.solver.sat import SatSettings

GRAIN = Grain(128, 128, 1)


def steps_of(sizes: list[int], retains: set[int]) -> list[Step]:
    """Steps of ``sizes[i]`` dummy ops each; step i retains a tensor iff
    i is in ``retains`` (window_at only reads sizes and retention)."""
    out, op = [], 0
    for i, size in enumerate(sizes):
        ops = tuple(range(op, op + size))
        op += size
        out.append(Step(ops, GRAIN, "raster", (i,) if i in retains else ()))
    return out


@pytest.mark.parametrize(
    ("sizes", "retains", "start", "ops", "expected"),
    [
        ([2, 2, 2, 2], set(), 0, 3, Window(0, 2)),  # 2 + 2 >= 3 ops
        ([2, 2, 2, 2], set(), 1, 1, Window(1, 2)),  # one step suffices
        ([2, 2, 2, 2], set(), 3, 10, Window(3, 4)),  # runs to the end
        ([2, 2, 2, 2], {1}, 1, 1, Window(1, 3)),  # 1 retains into 2
        ([2, 2, 2, 2], {0}, 1, 1, Window(0, 2)),  # 0 retains into 1
        ([2, 2, 2, 2], {0, 1, 2}, 2, 1, Window(0, 4)),  # one long chain
        ([2, 2, 2, 2], set(), 9, 1, Window(3, 4)),  # start past the end
    ],
)
def test_window_at(
    sizes: list[int],
    retains: set[int],
    start: int,
    ops: int,
    expected: Window,
) -> None:
    """Tests that a window holds at least the asked ops (or reaches the
    end) and never cuts a retained tensor at either end."""
    assert window_at(steps_of(sizes, retains), start, ops) == expected


@pytest.mark.parametrize(
    ("name", "rules"),
    [("mlsys-2026-5", "strict"), ("mlsys-2026-8", "contest")],
)
def test_window_search_splices_valid_schedules(name: str, rules: str) -> None:
    """Tests that re-solving each window of the list schedule returns
    either nothing or a whole, valid schedule that is strictly cheaper,
    with its exact latency."""
    problem = load_problem(name)
    begin = list_start(problem, rules)
    fine = GranularityOptimizer(problem, rules, fine=True)
    search = WindowSearch(
        problem, rules, begin.optimizer, fine, SatSettings(num_workers=1)
    )
    steps = list(begin.steps)
    start = 0
    while start < len(steps):
        window = window_at(steps, start, 6)
        out = search.solve(steps, window, begin.objective, 1e18)
        if out.steps is not None:
            ev = evaluate(problem, to_solution(problem, out.steps), rules)
            assert ev.valid, ev.message
            assert math.isclose(ev.total_latency, out.objective, rel_tol=1e-9)
            assert out.objective < begin.objective
            kept = steps[: window.start] + steps[window.stop :]
            assert all(s in out.steps for s in kept)
        start = window.stop
