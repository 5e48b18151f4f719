"""Large-neighbourhood windows: where they start and stop, and that a
re-solved window splices back into a valid, no worse schedule."""

from __future__ import annotations

import itertools
import math
import time

import pytest
from solver_setup import started_driver

from mlsched import clock, evaluate, load_problem
from mlsched.heuristics import GranularityOptimizer
from mlsched.heuristics.start import list_start
from mlsched.model import Grain
from mlsched.model.result import SolveStatus
from mlsched.model.schedule import Step, to_solution
from mlsched.solver.driver import (
    solve_cpsat,
)
from mlsched.solver.lns import (
    Rotation,
    Window,
    WindowSearch,
    depth_at,
    window_at,
)
from mlsched.solver.sat import ModelOutcome, SatSettings

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


def run_rotation(
    steps: list[Step], rotation: Rotation, limit: int = 1000
) -> list[tuple[Window, int, int]]:
    """Every window (with its target width and level) a rotation gives
    over ``steps`` when no window ever gains, until it ends."""
    out = []
    for _ in range(limit):
        window = rotation.window(steps)
        out.append((window, rotation.target, rotation.level))
        if not rotation.advance(steps, window, gained=False):
            return out
    raise AssertionError("the rotation never ended")


def test_rotation_covers_every_op_in_its_first_pass() -> None:
    """Tests that the windows of a first pass (until the first wrap
    around) hold every op of the schedule."""
    steps = steps_of([2] * 10, set())
    rotation = Rotation(20, first=4, widest=10, deepest=0)
    seen: set[int] = set()
    for window, _, _ in run_rotation(steps, rotation):
        seen.update(
            o for s in steps[window.start : window.stop] for o in s.ops
        )
        if window.stop == len(steps):
            break
    assert seen == set(range(20))


def test_rotation_counts_its_passes() -> None:
    """Tests that windows move by half their width (20 one-op steps,
    windows of 4: 0-4, 2-6, ...) and that ``passes`` counts the wraps
    (0 until the window reaching the last step, then 1)."""
    steps = steps_of([1] * 20, set())
    rotation = Rotation(20, 4, 4, 1)
    seen = []
    for _ in range(10):
        window = rotation.window(steps)
        seen.append((window, rotation.passes))
        rotation.advance(steps, window, gained=False)
    assert [w for w, _ in seen[:3]] == [
        Window(0, 4),
        Window(2, 6),
        Window(4, 8),
    ]
    assert seen[8] == (Window(16, 20), 0)
    assert seen[9] == (Window(0, 4), 1)


def test_rotation_widens_then_deepens_then_ends() -> None:
    """Tests that passes without gain widen the windows by half up to the
    widest (4, 7, 10 ops), then restart at the first width one level
    deeper, and that the deepest level's last pass ends the search."""
    steps = steps_of([1] * 20, set())
    widths = {
        (target, level)
        for _, target, level in run_rotation(
            steps, Rotation(20, first=4, widest=10, deepest=1)
        )
    }
    assert widths == {(4, 0), (7, 0), (10, 0), (4, 1), (7, 1), (10, 1)}


def test_rotation_moves_past_retention_chains() -> None:
    """Tests that each window reaches past the last one's end (until the
    end of the schedule), even when a retention chain pulls its start
    back."""
    # Steps 0-3 retain into their successors: any start in 0-4 is pulled
    # back to 0, so stepping by half a window alone would repeat 0-5.
    steps = steps_of([1] * 8, {0, 1, 2, 3})
    windows = [w for w, _, _ in run_rotation(steps, Rotation(8, 2, 2, 0))]
    for a, b in itertools.pairwise(windows):
        assert b.stop > a.stop or a.stop == len(steps)


@pytest.mark.timed
def test_window_search_deeper_level_is_valid() -> None:
    """Tests that a window searched at a deeper level (wider enumeration
    and LP pricing) returns nothing or a valid, cheaper whole schedule."""
    problem = load_problem("mlsys-2026-5")
    begin = list_start(problem, "strict")
    fine = GranularityOptimizer(problem, "strict", fine=True)
    search = WindowSearch(
        problem, "strict", begin.optimizer, fine, SatSettings(num_workers=1)
    )
    steps = list(begin.steps)
    window = window_at(steps, 0, 8)
    deadline = time.perf_counter() + 0.8
    out = search.solve(steps, window, begin.objective, deadline, level=2)
    assert time.perf_counter() < deadline + 0.5
    assert search.generator(2).max_ops == depth_at(2).max_ops > 12
    if out.steps is not None:
        ev = evaluate(problem, to_solution(problem, out.steps), "strict")
        assert ev.valid, ev.message
        assert out.objective < begin.objective


@pytest.mark.timed
def test_deterministic_solve_keeps_the_wall_clock_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tests that a deterministic solve whose virtual clock barely moves
    (so that only the wall-clock hard stop can end its windows) returns
    within 0.5 s of a 1.5 s limit, with a valid schedule."""
    monkeypatch.setattr(clock, "STEP_SECONDS", 1e-9)
    monkeypatch.setattr(clock, "COST_SECONDS", 1e-9)
    problem = load_problem("mlsys-2026-13")
    started = time.perf_counter()
    result = solve_cpsat(problem, "strict", 1.5, deterministic=True)
    assert time.perf_counter() - started < 2.0
    assert "may not be reproducible" in result.message  # the hard stop
    assert result.cut_short
    assert result.solution is not None
    assert evaluate(problem, result.solution, "strict").valid


def test_solve_notes_when_every_op_was_in_a_window() -> None:
    """Tests that a solve whose windows reached every op says by when
    (benchmark 8: 20 ops, so one first window holds them all)."""
    result = solve_cpsat(load_problem("mlsys-2026-8"), "strict", 6.0)
    assert "every op in a window by" in result.message, result.message


class _CountingSearch:
    """A window search that finds nothing and records each level asked."""

    def __init__(self) -> None:
        self.levels: list[int] = []

    def solve(
        self,
        steps: list[Step],
        window: Window,
        objective: float,
        deadline: float,
        on_improvement: object = None,
        level: int = 0,
    ) -> ModelOutcome:
        self.levels.append(level)
        return ModelOutcome(
            SolveStatus.UNKNOWN, None, None, objective, None, None
        )


def test_a_window_searched_in_vain_is_not_searched_again() -> None:
    """Tests that the driver skips a window whose subgraphs it already
    searched without gain at the same level (None: not searched), and
    searches the same subgraphs again one level deeper."""
    driver = started_driver("mlsys-2026-5", "strict")
    search = _CountingSearch()
    steps, window = list(driver.begin.steps), Window(0, 2)
    assert driver._window(search, steps, window, 0) is False
    assert driver._window(search, steps, window, 0) is None
    assert driver._window(search, steps, window, 1) is False
    assert search.levels == [0, 1]
