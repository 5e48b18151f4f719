"""The clock every deadline of a solve is read on.

Deadlines throughout mlsched (list scheduler, column enumeration,
refinement, CP-SAT rounds, windows) are instants of :func:`now`. By
default that is ``time.perf_counter()``. A deterministic solve installs
a :class:`VirtualClock` for its duration (:func:`using`): its time
advances only by counted work, each deadline check being one step and
each CP-SAT search adding its deterministic time, so every decision
depends on the problem, the seed and the time limit, not on the
machine's load. The real clock stays a hard stop: past it every
deadline has passed, and the run is no longer reproducible (a warning is
logged once).

The module imports nothing from mlsched, so every layer may use it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

logger = logging.getLogger(__name__)

# The rates below were fitted on the 2-core development machine under
# the load of a few concurrent sessions (wall time against the counts,
# over benchmarks and generated graphs of 30-110 ops; the fit is good to
# a factor of 1.5) and then multiplied by 4: a deterministic solve
# reaches its virtual deadline after about a quarter of its budget in
# real time on that machine, and mostly before the hard stop with its
# two cores four times oversubscribed (not always with limits of a few
# seconds on graphs of 60+ ops: the lower bound is not counted).
#: Virtual seconds per counted step (one deadline check).
STEP_SECONDS = 8e-5
#: Virtual seconds per costing unit: an op costed at one granularity
#: (``view_cost``).
COST_SECONDS = 1.76e-5
#: Costing units of a working-set check and of building a subgraph view
#: (which is built to be searched).
WORKING_SET_UNITS = 3.0
VIEW_UNITS = 150.0
#: CP-SAT deterministic time per virtual second, and the virtual seconds
#: charged per search for building and loading its model.
SAT_RATE = 0.25
SAT_SEARCH_SECONDS = 0.1
#: Virtual time reported once the hard stop has passed: later than any
#: deadline, but finite, so that shares of the time left stay negative.
_PAST = 1e12


class WallClock:
    """The real clock: ``time.perf_counter()``."""

    deterministic = False

    def now(self, steps: float = 1.0) -> float:
        """The current instant (``steps`` is ignored)."""
        del steps
        return time.perf_counter()

    def count(self, units: float) -> None:
        """Count ``units`` of costing work (nothing on the real clock)."""
        del units

    def sat_limits(self, seconds: float) -> tuple[float, float | None]:
        """CP-SAT's wall and deterministic limits for ``seconds``."""
        return max(0.01, seconds), None

    def charge(self, deterministic_time: float) -> None:
        """Account a CP-SAT search (nothing to do on the real clock)."""
        del deterministic_time


class VirtualClock:
    """Time that advances by counted work only.

    Parameters
    ----------
    origin
        The virtual instant at zero work (a ``time.perf_counter()``
        value, so that deadlines computed before and after installing
        the clock compare alike).
    hard_stop
        The ``time.perf_counter()`` instant past which every deadline
        has passed.
    """

    deterministic = True

    def __init__(self, origin: float, hard_stop: float) -> None:
        self.origin = origin
        self.hard_stop = hard_stop
        self.elapsed = 0.0
        self.lost = False

    def _stopped(self) -> bool:
        if not self.lost and time.perf_counter() >= self.hard_stop:
            self.lost = True
            logger.warning(
                "the time limit stopped a deterministic run (at %.2f "
                "virtual s): this result may not be reproducible",
                self.elapsed,
            )
        return self.lost

    def now(self, steps: float = 1.0) -> float:
        """The virtual instant, after counting ``steps`` steps of work."""
        self.elapsed += steps * STEP_SECONDS
        if self._stopped():
            return self.origin + _PAST
        return self.origin + self.elapsed

    def count(self, units: float) -> None:
        """Advance by ``units`` units of costing work (an op costed at
        one granularity), without reading the real clock."""
        self.elapsed += units * COST_SECONDS

    def sat_limits(self, seconds: float) -> tuple[float, float | None]:
        """CP-SAT's wall limit (the time to the hard stop) and its
        deterministic limit for ``seconds`` virtual seconds."""
        wall = max(0.01, self.hard_stop - time.perf_counter())
        return wall, max(0.0, seconds) * SAT_RATE

    def charge(self, deterministic_time: float) -> None:
        """Advance by a CP-SAT search's deterministic time."""
        self.elapsed += SAT_SEARCH_SECONDS + deterministic_time / SAT_RATE
        self._stopped()


Clock = WallClock | VirtualClock

_WALL = WallClock()
_CURRENT: ContextVar[Clock] = ContextVar("mlsched_clock", default=_WALL)


def current() -> Clock:
    """The clock of the solve running in this context."""
    return _CURRENT.get()


def count(units: float) -> None:
    """Count ``units`` of costing work on the current clock."""
    _CURRENT.get().count(units)


def now(steps: float = 1.0) -> float:
    """The current instant on the current clock; a virtual clock counts
    ``steps`` steps of work first (call it once per unit of work)."""
    return _CURRENT.get().now(steps)


@contextmanager
def using(clock: Clock) -> Iterator[Clock]:
    """Read every deadline on ``clock`` inside the ``with`` block."""
    token = _CURRENT.set(clock)
    try:
        yield clock
    finally:
        _CURRENT.reset(token)


@contextmanager
def virtual_if(
    deterministic: bool, origin: float, hard_stop: float
) -> Iterator[VirtualClock | None]:
    """Inside the block, a :class:`VirtualClock` from ``origin`` with
    ``hard_stop`` if ``deterministic`` (yielded, to ask whether the hard
    stop fired), else the clock as it was (None)."""
    if not deterministic:
        yield None
        return
    virtual = VirtualClock(origin, hard_stop)
    with using(virtual):
        yield virtual
