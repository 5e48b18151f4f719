"""Large-neighbourhood rounds: re-solve a window of the schedule.

A window is a run of consecutive subgraphs of the incumbent with no
tensor retained across either end. Its ops can be re-scheduled freely
among themselves: every op before the window runs before, every op
after it after, so any valid schedule of the window's ops splices back
into a valid whole. Inside the window the enumeration goes deeper than
the global one can afford (larger regions, a wider beam, more retention
contexts, fine tile sizes), and the order-free master picks the best
columns for it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from mlsched import clock
from mlsched.heuristics import GranularityOptimizer
from mlsched.model import Problem
from mlsched.model.result import SolveStatus
from mlsched.model.schedule import Step
from mlsched.model.types import Rules
from mlsched.solver.columns import ColumnGenerator, refine, schedule_columns
from mlsched.solver.master import OrderFreeModel
from mlsched.solver.sat import (
    Improvement,
    ModelOutcome,
    SatSettings,
    solve_model,
)

logger = logging.getLogger(__name__)

# Region growth inside a window: up to this many ops, this many regions
# kept per seed and size, this many retained tensors tried per side.
WINDOW_MAX_OPS = 12
WINDOW_BEAM = 10
WINDOW_CONTEXTS = 3
# Shares of a window's time for enumerating and refining its columns.
WINDOW_ENUMERATION = 0.45
WINDOW_REFINE = 0.25
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
        self.fine = fine
        self.settings = settings
        self.generator = ColumnGenerator(
            problem,
            optimizer,
            max_ops=WINDOW_MAX_OPS,
            beam=WINDOW_BEAM,
            contexts=WINDOW_CONTEXTS,
        )

    def solve(
        self,
        steps: list[Step],
        window: Window,
        objective: float,
        deadline: float,
        on_improvement: Improvement | None = None,
    ) -> ModelOutcome:
        """Search the window for whole schedules below ``objective``.

        ``deadline`` is a :func:`mlsched.clock.now` instant.
        """
        part = steps[window.start : window.stop]
        ops = frozenset(o for s in part for o in s.ops)
        now = clock.now()
        enum_deadline = now + WINDOW_ENUMERATION * (deadline - now)
        regions = self.generator.regions(
            [s.ops for s in part], enum_deadline, within=ops
        )
        columns = self.generator.columns(
            regions, schedule_columns(self.problem, part), enum_deadline
        )
        now = clock.now()
        columns = refine(
            columns, self.fine, now + WINDOW_REFINE * (deadline - now)
        )
        master = OrderFreeModel(self.problem, columns, ops)
        head, tail = steps[: window.start], steps[window.stop :]
        logger.debug(
            "window %d-%d: %d ops, %d columns",
            window.start,
            window.stop,
            len(ops),
            len(columns),
        )
        best: ModelOutcome | None = None
        for _ in range(WINDOW_CUTS + 1):
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
