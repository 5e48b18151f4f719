"""Large-neighbourhood rounds: re-solve a window of the schedule.

A window is a run of consecutive subgraphs of the incumbent with no
tensor retained across either end. Its ops can be re-scheduled freely
among themselves: every op before the window runs before, every op
after it after, so any valid schedule of the window's ops splices back
into a valid whole. Inside the window the enumeration goes deeper than
the global one can afford (larger regions, a wider beam, more retention
contexts, fine tile sizes), column generation by LP prices restricted
to the window adds the regions the enumeration missed, and the
order-free master picks the best columns for it. A deeper *level* widens
all of these: the driver turns to it once a pass over the schedule at
the current level finds nothing, so a longer budget keeps buying new
schedule space.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from mlsched import clock
from mlsched.heuristics import GranularityOptimizer
from mlsched.model import Problem
from mlsched.model.result import ImprovementCallback, SolveStatus
from mlsched.model.schedule import Step
from mlsched.model.types import Rules
from mlsched.solver.columns import (
    Column,
    ColumnGenerator,
    refine,
    schedule_columns,
)
from mlsched.solver.master import OrderFreeModel
from mlsched.solver.pricing import price_columns
from mlsched.solver.sat import (
    ModelOutcome,
    SatSettings,
    solve_model,
)

logger = logging.getLogger(__name__)

# Region growth inside a window at level 0: up to this many ops, this
# many regions kept per seed and size, this many retained tensors tried
# per side; each level adds the steps below.
WINDOW_MAX_OPS = 12
WINDOW_BEAM = 10
WINDOW_CONTEXTS = 3
LEVEL_OPS = 4
LEVEL_BEAM = 6
LEVEL_CONTEXTS = 1
# Shares of a window's time for enumerating, refining and pricing its
# columns (each of the time left then).
WINDOW_ENUMERATION = 0.4
WINDOW_REFINE = 0.25
WINDOW_PRICING = 0.3
# The first level whose windows are priced: on a large graph pricing a
# narrow window costs more time than its columns give back.
PRICING_LEVEL = 1
# No-goods tried per window before giving up on its order.
WINDOW_CUTS = 5


@dataclass(frozen=True)
class Window:
    """Subgraphs ``start`` up to (not including) ``stop`` of a schedule."""

    start: int
    stop: int


def window_at(steps: Sequence[Step], start: int, ops: int) -> Window:
    """The window from subgraph ``start`` holding at least ``ops`` ops
    (or up to the end), widened until no tensor is retained across
    either end."""
    n = len(steps)
    start = min(start, n - 1)
    while start > 0 and steps[start - 1].retain:
        start -= 1
    stop, held = start + 1, len(steps[start].ops)
    while stop < n and (held < ops or steps[stop - 1].retain):
        held += len(steps[stop].ops)
        stop += 1
    return Window(start, stop)


@dataclass(frozen=True)
class Depth:
    """How widely a window's columns are enumerated."""

    max_ops: int
    beam: int
    contexts: int


def depth_at(level: int) -> Depth:
    """The enumeration depth of ``level`` (0: the first, narrowest)."""
    return Depth(
        WINDOW_MAX_OPS + LEVEL_OPS * level,
        WINDOW_BEAM + LEVEL_BEAM * level,
        WINDOW_CONTEXTS + LEVEL_CONTEXTS * level,
    )


def _share(share: float, deadline: float) -> float:
    """The instant ``share`` of the time to ``deadline`` from now."""
    now = clock.now()
    return now + share * max(0.0, deadline - now)


class WindowSearch:
    """Re-solves windows of a schedule over deeply enumerated columns.

    Parameters
    ----------
    problem
        The problem.
    rules
        ``"strict"`` or ``"contest"``.
    optimizer
        Coarse granularity optimizer (its cache is shared).
    fine
        Fine granularity optimizer for refining the window's columns.
    settings
        How CP-SAT runs.
    """

    def __init__(
        self,
        problem: Problem,
        rules: Rules,
        optimizer: GranularityOptimizer,
        fine: GranularityOptimizer,
        settings: SatSettings,
    ) -> None:
        self.problem = problem
        self.rules = rules
        self.optimizer = optimizer
        self.fine = fine
        self.settings = settings
        self._generators: dict[int, ColumnGenerator] = {}

    def generator(self, level: int) -> ColumnGenerator:
        """The column generator of ``level`` (made once)."""
        if level not in self._generators:
            d = depth_at(level)
            self._generators[level] = ColumnGenerator(
                self.problem,
                self.optimizer,
                max_ops=d.max_ops,
                beam=d.beam,
                contexts=d.contexts,
            )
        return self._generators[level]

    def _columns(
        self,
        part: Sequence[Step],
        ops: frozenset[int],
        level: int,
        deadline: float,
    ) -> list[Column]:
        """The window's columns at ``level``: enumerated, refined and (from
        :data:`PRICING_LEVEL` on) priced, each stage in its share of the
        time to ``deadline``."""
        generator = self.generator(level)
        enum_deadline = _share(WINDOW_ENUMERATION, deadline)
        regions = generator.regions(
            [s.ops for s in part], enum_deadline, within=ops
        )
        columns = generator.columns(
            regions, schedule_columns(self.problem, part), enum_deadline
        )
        columns = refine(columns, self.fine, _share(WINDOW_REFINE, deadline))
        priced = columns
        if level >= PRICING_LEVEL:
            priced = price_columns(
                self.problem,
                generator,
                columns,
                _share(WINDOW_PRICING, deadline),
                self.fine,
                ops,
            ).columns
        return priced

    def solve(
        self,
        steps: list[Step],
        window: Window,
        objective: float,
        deadline: float,
        on_improvement: ImprovementCallback | None = None,
        level: int = 0,
    ) -> ModelOutcome:
        """Search the window for whole schedules below ``objective``,
        over columns enumerated at ``level``.

        ``deadline`` is a :func:`mlsched.clock.now` instant.
        """
        part = steps[window.start : window.stop]
        ops = frozenset(o for s in part for o in s.ops)
        columns = self._columns(part, ops, level, deadline)
        if clock.now() >= deadline:
            # Building and searching the master would overrun the
            # window's time (and on a virtual clock, the hard stop).
            return ModelOutcome(
                SolveStatus.UNKNOWN, None, None, objective, None, None
            )
        master = OrderFreeModel(self.problem, columns, ops)
        head, tail = steps[: window.start], steps[window.stop :]
        logger.debug(
            "window %d-%d (level %d): %d ops, %d columns",
            window.start,
            window.stop,
            level,
            len(ops),
            len(columns),
        )
        best: ModelOutcome | None = None
        for _ in range(WINDOW_CUTS + 1):
            if clock.now() >= deadline and best is not None:
                break
            master.hint(part)
            out = solve_model(
                master,
                self.rules,
                objective if best is None else best.objective,
                deadline - clock.now(),
                self.settings,
                on_improvement,
                complete=lambda inner: [*head, *inner, *tail],
            )
            if best is None or out.solution is not None:
                best = out
            if (
                out.final is None
                or out.status is not SolveStatus.COLUMN_OPTIMAL
            ):
                break
            ordering = master.order(out.final)
            if ordering.order is not None:
                break
            master.cut(ordering.conflict)
        assert best is not None  # the loop runs at least once
        return best


class Rotation:
    """Where the next window of a large-neighbourhood search goes.

    Windows move forward by half their width and wrap around, so every
    op is in a window once per pass (``passes`` counts the wraps). A
    pass (as many ops as the graph has) without gain widens the windows,
    by half, up to ``widest`` ops; a pass without gain at the widest
    deepens the enumeration (the next level), from the first width
    again; a pass without gain at the deepest level ends the search.

    Parameters
    ----------
    num_ops
        Ops of the graph.
    first
        Ops in a first window.
    widest
        Most ops a window is widened to.
    deepest
        Last enumeration level.
    """

    def __init__(
        self, num_ops: int, first: int, widest: int, deepest: int
    ) -> None:
        self.num_ops = num_ops
        self.first = min(first, num_ops)
        self.widest = min(widest, num_ops)
        self.deepest = deepest
        self.target = self.first
        self.level = 0
        self.position = 0
        self.stale = 0
        self.passes = 0
        self._last: Window | None = None

    def window(self, steps: Sequence[Step]) -> Window:
        """The next window of ``steps``."""
        window = window_at(steps, self.position, self.target)
        last = self._last
        if last is not None and window.stop <= last.stop < len(steps):
            # Retention chains pulled the start back so far that the
            # window holds nothing new: start where the last one ended.
            window = window_at(steps, last.stop, self.target)
        self._last = window
        return window

    def advance(
        self, steps: Sequence[Step], window: Window, gained: bool
    ) -> bool:
        """Move on after ``window`` of ``steps``; False once the deepest
        level has had a pass without gain."""
        if gained:
            self.stale = 0
        else:
            self.stale += sum(
                len(s.ops) for s in steps[window.start : window.stop]
            )
        half = max(1, (window.stop - window.start) // 2)
        self.position = window.start + half
        if window.stop >= len(steps):
            self.position, self._last = 0, None
            self.passes += 1
        if self.stale < self.num_ops:
            return True
        self.stale = 0
        if self.target < self.widest:
            self.target = min(self.widest, self.target * 3 // 2 + 1)
        elif self.level < self.deepest:
            self.level += 1
            self.target = self.first
        else:
            return False
        return True
