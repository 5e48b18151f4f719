"""The driver's recomputation passes: when they run and from where."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import pytest
from solver_setup import slow_recomputer, started_driver

from mlsched import clock
from mlsched.model.schedule import Step
from mlsched.solver.driver import _Driver, _Incumbent
from mlsched.solver.recompute import Recomputed, Recomputer


class _FakeRecomputer:
    """A stand-in recomputer: records where each pass starts and returns
    the given results in turn (None: nothing found)."""

    def __init__(self, results: list[Recomputed | None]) -> None:
        self.results = results
        self.starts: list[tuple[tuple[Step, ...], float]] = []
        self.out_of_time = False

    def improve(
        self, steps: Sequence[Step], objective: float, deadline: float
    ) -> Recomputed | None:
        self.starts.append((tuple(steps), objective))
        self.out_of_time = clock.now() >= deadline
        return self.results.pop(0)


def _driver() -> tuple[_Driver, list[Step]]:
    """A driver of benchmark 5 (strict) at its list schedule, and that
    schedule's steps."""
    driver = started_driver("mlsys-2026-5", "strict")
    return driver, list(driver.begin.steps)


def _run(driver: _Driver, fake: _FakeRecomputer, deadline: float) -> None:
    driver._recompute(cast(Recomputer, fake), deadline)


def test_a_pass_without_work_is_skipped_and_reserves_nothing() -> None:
    """Tests that a pass that ran out of moves is not run again on the
    same base, and that the windows then keep no time back for it."""
    driver, steps = _driver()
    fake = _FakeRecomputer([None])
    assert driver._reserve() > 0
    _run(driver, fake, clock.now() + 60)
    _run(driver, fake, clock.now() + 60)
    assert [start for start, _ in fake.starts] == [tuple(steps)]
    assert not driver._pass_pending()
    assert driver._reserve() == 0.0


def test_a_pass_cut_short_goes_on_from_where_it_stopped() -> None:
    """Tests that a pass stopped by its deadline is pending (the windows
    keep time for it) and that the next pass starts from the schedule it
    had reached, at its latency, and keeps the better schedule."""
    driver, steps = _driver()
    found = Recomputed(
        tuple(steps[::-1]), driver.best.solution, driver.best.objective - 10
    )
    fake = _FakeRecomputer([found, None])
    _run(driver, fake, clock.now() - 1.0)  # its deadline has passed
    assert driver.best.objective == found.objective
    assert driver.best.source == "recompute"
    assert driver.base.steps == steps
    assert driver._pass_pending()
    assert driver._reserve() > 0
    _run(driver, fake, clock.now() + 60)
    assert fake.starts[1] == (found.steps, found.objective)
    assert not driver._pass_pending()


def test_a_new_base_gets_a_pass_from_the_base() -> None:
    """Tests that once the base changes, the next pass starts from it
    (not from an older pass's schedule) at the base's latency."""
    driver, steps = _driver()
    fake = _FakeRecomputer([None, None])
    _run(driver, fake, clock.now() + 60)
    better = steps[1:] + steps[:1]
    driver.base = _Incumbent(
        better, driver.base.solution, driver.base.objective - 1.0, "cpsat"
    )
    assert driver._pass_pending()
    _run(driver, fake, clock.now() + 60)
    assert fake.starts[1] == (tuple(better), driver.base.objective)


def test_a_pass_stopped_before_its_deadline_is_still_pending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tests that a pass whose next move could run past its deadline
    (it stops before the deadline itself) counts as cut short: it is
    pending, so the windows keep time for it and the last pass goes on
    from it (moves of 0.3 s, a deadline 0.5 s ahead: one move)."""
    driver, _ = _driver()
    recomputer, tried = slow_recomputer(
        driver.problem, driver.rules, monkeypatch
    )
    deadline = clock.now() + 0.5
    driver._recompute(recomputer, deadline)
    assert len(tried) == 1
    assert clock.now() < deadline
    assert driver._pass_pending()
    assert driver._reserve() > 0
    assert recomputer.out_of_time
