"""Tests of the wall and virtual clocks deadlines are read on."""

from __future__ import annotations

import logging
import time

import pytest

from mlsched import clock


def test_virtual_clock_counts_work_only() -> None:
    """Tests that virtual time is the counted work and nothing else.

    Two checks, 1,000 costing units and 0.5 s of CP-SAT deterministic
    time advance it by 2 steps + 1,000 units + 0.5 / SAT_RATE, however
    long the real clock took meanwhile (the search also pays its fixed
    SAT_SEARCH_SECONDS).
    """
    c = clock.VirtualClock(origin=100.0, hard_stop=time.perf_counter() + 60)
    first = c.now()
    time.sleep(0.01)
    c.count(1000)
    c.charge(0.5)
    second = c.now()
    assert first == 100.0 + clock.STEP_SECONDS
    want = (
        2 * clock.STEP_SECONDS
        + 1000 * clock.COST_SECONDS
        + clock.SAT_SEARCH_SECONDS
        + 0.5 / clock.SAT_RATE
    )
    assert second - 100.0 == pytest.approx(want)
    assert not c.lost


def test_hard_stop_passes_every_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Tests that past the hard stop every deadline has passed, the run
    is marked lost and one warning says it may not be reproducible."""
    c = clock.VirtualClock(origin=0.0, hard_stop=time.perf_counter() - 1)
    with caplog.at_level(logging.WARNING, logger="mlsched.clock"):
        late = c.now()
        c.now()
    assert late > 1e9
    assert c.lost
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "may not be reproducible" in warnings[0].getMessage()


def test_using_installs_and_restores() -> None:
    """Tests that ``using`` makes a clock current only inside its block,
    and that CP-SAT limits follow the current clock."""
    virtual = clock.VirtualClock(0.0, time.perf_counter() + 60)
    assert not clock.current().deterministic
    assert clock.current().sat_limits(2.0) == (2.0, None)
    with clock.using(virtual):
        assert clock.current() is virtual
        clock.count(10)
        assert virtual.elapsed == pytest.approx(10 * clock.COST_SECONDS)
        wall, deterministic = clock.current().sat_limits(2.0)
        assert deterministic == pytest.approx(2.0 * clock.SAT_RATE)
        assert 50 < wall <= 60
    assert not clock.current().deterministic
