"""The list-scheduler start: its deadline reserve and its bound."""

from __future__ import annotations

import time

import pytest

from mlsched import load_problem
from mlsched.heuristics.start import (
    bound_reserve,
    list_start,
    start_deadlines,
)
from mlsched.model.bounds import alone_bound, compute_bound, lower_bound


def test_bound_reserve_per_op_and_capped() -> None:
    """Tests that the list scheduler leaves the lower bound 4 ms per op,
    at most 30% of the limit but at least 0.15 ms per op for the
    compute bound: 4 s for 1,000 ops at 120 s, 0.6 s of a 2 s limit,
    0.02 s for 5 ops, 1.5 s for 10,000 ops at 2 s."""
    assert bound_reserve(1000, 120.0) == pytest.approx(4.0)
    assert bound_reserve(1000, 2.0) == pytest.approx(0.6)
    assert bound_reserve(5, 2.0) == pytest.approx(0.02)
    assert bound_reserve(10_000, 2.0) == pytest.approx(1.5)


def test_start_deadlines_leave_the_reserve_to_the_bound() -> None:
    """Tests that a start due at instant 100 of a 2 s solve of 1,000
    ops schedules until 99.4 (0.6 s, 30% of the limit, kept for the
    bound) and stops the bound at 100."""
    by = start_deadlines(1000, 100.0, 2.0)
    assert by.schedule == pytest.approx(99.4)
    assert by.bound == 100.0


def test_a_searching_start_gives_the_bound_a_share_of_the_limit() -> None:
    """Tests that the bound of a start a search follows may take 30% of
    the limit once the schedule is costed (36 s of a 120 s solve of
    10,000 ops, whose contest traffic bound takes about a minute), but
    at least what the compute bound needs (1.5 s of a 2 s solve)."""
    by = start_deadlines(10_000, 0.0, 120.0)
    assert by.bound_seconds == pytest.approx(36.0)
    assert start_deadlines(10_000, 0.0, 2.0).bound_seconds == (
        pytest.approx(1.5)
    )


@pytest.mark.usefixtures("no_kept_bounds")
@pytest.mark.parametrize("stop", ["bound_stop", "bound_seconds"])
def test_a_start_past_its_bound_stop_keeps_the_compute_bound(
    stop: str,
) -> None:
    """Tests that a start whose bound stop has passed, or whose bound
    may take no time, carries the bound without traffic (benchmark 5,
    strict: the compute bound of 160,000 raised by the MatMuls that run
    alone, still below the traffic bound of 503,385) and a note that
    says the traffic bound did not finish;
    with no stop it carries the full bound and no note."""
    p = load_problem("mlsys-2026-5")
    cut = (
        list_start(p, "strict", bound_stop=time.perf_counter())
        if stop == "bound_stop"
        else list_start(p, "strict", bound_seconds=0.0)
    )
    assert cut.lower_bound == alone_bound(p, "strict")
    assert compute_bound(p, "strict") == 160_000.0 < cut.lower_bound
    assert "counts compute (and the traffic of MatMuls" in cut.bound.note
    full = list_start(p, "strict")
    assert full.lower_bound == lower_bound(p, "strict") > 500_000
    assert full.bound.note == ""
    assert full.objective == cut.objective
