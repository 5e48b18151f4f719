"""The anytime solve: list-scheduler start, then rounds of CP-SAT.

The driver owns the clock and the incumbents. Each round enumerates
columns (regions in retention contexts) for a share of the time left,
refines their granularities for another share, and searches the master
model over them for the rest; a round that settles a truncated column
set leaves time for another. Large-neighbourhood windows then re-solve
parts of the base schedule (below) for the rest of the budget: runs of
consecutive subgraphs rotating over the schedule
(:mod:`mlsched.solver.lns`) and, after a first pass has covered every
op, connected neighbourhoods moved together from wherever they run
(:mod:`mlsched.solver.neighbourhood`).
A recomputation pass (:mod:`mlsched.solver.recompute`) runs before the
global rounds, from the start, and again after the windows, from the
schedule they leave (or on from where the first one ran out of time);
its schedules may hold an op twice, so the global rounds and the windows
work on the best schedule of the column model (the base), and the solve
returns the best of all. Every deadline is an instant of
:func:`mlsched.clock.now`: the wall clock, or in a deterministic solve a
virtual clock that counts work, so that the same problem, seed and time
limit give the same schedule whatever the load.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlsched import clock
from mlsched.heuristics import GranularityOptimizer, Infeasible
from mlsched.heuristics.start import (
    Start,
    improving,
    list_start,
    start_deadlines,
)
from mlsched.model import Problem, Solution, evaluate
from mlsched.model.bounds import meets
from mlsched.model.result import ImprovementCallback, Result, SolveStatus
from mlsched.model.schedule import Step, from_solution, to_solution
from mlsched.model.types import Rules, improves
from mlsched.solver.columns import (
    Column,
    ColumnGenerator,
    refine,
    schedule_columns,
)
from mlsched.solver.lns import Rotation, Window, WindowSearch
from mlsched.solver.master import OrderFreeModel
from mlsched.solver.model import ColumnModel, MasterBase
from mlsched.solver.neighbourhood import neighbourhood
from mlsched.solver.pricing import price_columns
from mlsched.solver.recompute import Recomputer
from mlsched.solver.sat import (
    ModelOutcome,
    SatSettings,
    solve_model,
)

logger = logging.getLogger(__name__)

# Seconds kept back from the budget for decoding, evaluating and writing
# the final schedule and for leaving the process.
FINISH_MARGIN = 0.25
# Shares of the remaining budget for enumerating columns, then for
# refining their granularities.
ENUMERATION_SHARE = 0.3
REFINE_SHARE = 0.25
# Share of the time left for column generation by LP prices.
PRICING_SHARE = 0.2
# Below this many seconds a CP-SAT search is not worth starting.
MIN_SEARCH = 0.05
# No-goods added to the order-free master before the positional model
# takes over.
MAX_CUTS = 50
# Graphs up to this many ops get global rounds before the windows.
GLOBAL_MAX_OPS = 200
# Ops in a first window, the most a window widens to before the
# enumeration deepens instead, the deepest enumeration level, seconds
# per window at most (times one plus the level), and the least time
# worth a window.
WINDOW_OPS = 20
WIDEST_WINDOW = 80
DEEPEST_LEVEL = 10
WINDOW_SECONDS = 3.0
MIN_WINDOW = 1.0
# Share of the whole budget the windows leave to the last recomputation
# pass, when it has work (see _Driver._pass_pending), and seconds at most.
RECOMPUTE_SHARE = 0.1
RECOMPUTE_SECONDS = 3.0
# Share of the time left that the first recomputation pass, before the
# global rounds and the windows, may take (it stops sooner when a round
# of its moves finds nothing).
EARLY_RECOMPUTE_SHARE = 0.25
# Share of the time left one global CP-SAT search may take: a master that
# does not settle leaves the rest to the windows.
SEARCH_SHARE = 0.5


@dataclass(frozen=True)
class _Settled:
    """How the global rounds ended: status, column bound, a note."""

    status: SolveStatus
    bound: float | None
    note: str


@dataclass
class _Incumbent:
    """A schedule, where it came from, and its steps when they are a
    schedule of the column model (each op once), else None."""

    steps: list[Step] | None
    solution: Solution
    objective: float
    source: str


@dataclass(frozen=True)
class _Pass:
    """The base the last recomputation pass started from, where it
    stands, and whether it ran out of moves (not of time)."""

    base: _Incumbent
    steps: Sequence[Step]
    objective: float
    finished: bool


def solve_cpsat(
    problem: Problem,
    rules: Rules = "strict",
    time_limit: float = 10.0,
    num_workers: int | None = None,
    seed: int = 0,
    log: bool = False,
    on_improvement: ImprovementCallback | None = None,
    start: float | None = None,
    initial_solution: Solution | None = None,
    deterministic: bool = False,
    **sat_params: Any,
) -> Result:
    """List scheduler, then CP-SAT over enumerated columns, anytime.

    See :func:`mlsched.solve` for the parameters. ``start`` is the
    ``time.perf_counter()`` instant the budget counts from (default:
    now); the result is returned by ``start + time_limit``.
    ``initial_solution``, when valid and better than the list schedule,
    is the first incumbent, and its subgraphs are columns.
    ``deterministic`` reads every deadline on a
    :class:`~mlsched.clock.VirtualClock` (one CP-SAT worker) with the
    wall clock as a hard stop at the same limit.
    """
    start = time.perf_counter() if start is None else start
    if deterministic and num_workers not in (None, 1):
        raise ValueError(
            f"a deterministic solve runs one CP-SAT worker, not {num_workers}"
        )
    settings = SatSettings(num_workers, seed, log, dict(sat_params))
    settings.check()
    if on_improvement is not None:
        on_improvement = improving(on_improvement)
    deadline = start + time_limit - FINISH_MARGIN
    driver = _Driver(problem, rules, start, deadline, settings, on_improvement)
    with clock.virtual_if(deterministic, start, deadline) as virtual:
        try:
            begin = _start(driver, virtual, time_limit)
        except Infeasible as exc:
            return Result.infeasible(
                "cpsat", rules, time.perf_counter() - start, str(exc)
            )
        result = driver.run(begin, initial_solution)
    if virtual is not None and virtual.lost:
        return result.marked_cut_short()
    return result


def _start(
    driver: _Driver, virtual: clock.VirtualClock | None, time_limit: float
) -> Start:
    """The list scheduler's start, its deadline (and on a virtual clock
    its hard stop) early by the lower bound's reserve."""
    by = start_deadlines(driver.problem.num_ops, driver.deadline, time_limit)
    if virtual is not None:
        virtual.hard_stop = by.schedule
    try:
        return list_start(
            driver.problem,
            driver.rules,
            by.schedule,
            on_schedule=driver.on_improvement,
            bound_stop=by.bound,
            bound_seconds=by.bound_seconds,
        )
    finally:
        if virtual is not None:
            virtual.hard_stop = driver.deadline


class _Driver:
    """One anytime solve: the clock, the incumbents and the rounds."""

    def __init__(
        self,
        problem: Problem,
        rules: Rules,
        start: float,
        deadline: float,
        settings: SatSettings,
        on_improvement: ImprovementCallback | None,
    ) -> None:
        self.problem = problem
        self.rules = rules
        self.start = start
        self.deadline = deadline
        self.settings = settings
        self.on_improvement = on_improvement
        self.rounds = 0
        # Ops that have been in some window, and when the last one was
        # (seconds from the start, on the solve's clock).
        self.covered: set[int] = set()
        self.covered_at: float | None = None
        # Windows (their subgraphs and level) searched without a gain.
        self.fruitless: set[tuple[tuple[Step, ...], int]] = set()
        # The last recomputation pass, if one ran.
        self.last_pass: _Pass | None = None

    def left(self) -> float:
        """Seconds left before the deadline."""
        return self.deadline - clock.now()

    def run(self, begin: Start, initial: Solution | None) -> Result:
        """The whole search from the list scheduler's start."""
        self.start_from(begin)
        self._report()
        required = schedule_columns(self.problem, begin.steps)
        if initial is not None:
            required += self._adopt(initial)
        if meets(self.best.objective, begin.lower_bound):
            return self._result(
                f"the {self.best.source} meets the proven lower bound",
                SolveStatus.OPTIMAL,
                bound=begin.lower_bound,
            )
        if self.left() <= MIN_SEARCH:
            return self._result(
                "no time left for CP-SAT", SolveStatus.FEASIBLE
            )
        return self._rounds(required)

    def start_from(self, begin: Start) -> None:
        """Take the list scheduler's start as both incumbents."""
        self.begin = begin
        # The best schedule, and the best of the column model, which the
        # global rounds and the windows improve; recomputation passes
        # start from the base and may leave the column model.
        self.best = _Incumbent(
            list(begin.steps), begin.solution, begin.objective, "heuristic"
        )
        self.base = self.best

    def _adopt(self, initial: Solution) -> list[Column]:
        """Take a given schedule as incumbent (best, and base if it is a
        schedule of the column model) where better; its columns."""
        ev = evaluate(self.problem, initial, self.rules)
        if not ev.valid:
            logger.warning(
                "initial schedule ignored: invalid [%s] %s",
                ev.category,
                ev.message,
            )
            return []
        covered = [o for s in initial.subgraphs for o in s]
        # A recomputed op has no form in the column model (each op is
        # covered once there): the schedule is then an incumbent only.
        steps = (
            from_solution(self.problem, initial)
            if len(covered) == len(set(covered))
            else None
        )
        self._take(_Incumbent(steps, initial, ev.total_latency, "initial"))
        if steps is None:
            return []
        return schedule_columns(self.problem, steps)

    def _offer(self, steps: list[Step]) -> None:
        """Take a schedule of the columns as incumbent where better."""
        solution = to_solution(self.problem, steps)
        ev = evaluate(self.problem, solution, self.rules)
        if ev.valid:
            self._take(_Incumbent(steps, solution, ev.total_latency, "cpsat"))

    def _take(self, found: _Incumbent) -> None:
        """Keep ``found`` as the base if it is a better schedule of the
        column model, and as the best (reported) if it is better."""
        if found.steps is not None and _below(found, self.base):
            self.base = found
        if _below(found, self.best):
            self.best = found
            self._report()

    def _report(self, bound: float | None = None) -> None:
        if self.on_improvement is not None:
            self.on_improvement(self.best.solution, self.best.objective, bound)

    def _rounds(self, required: list[Column]) -> Result:
        """A recomputation pass, global rounds over enumerated columns,
        windows (LNS) for the rest of the budget, and a last
        recomputation pass."""
        fine = GranularityOptimizer(self.problem, self.rules, fine=True)
        recomputer = Recomputer(self.problem, self.rules, fine)
        # Recomputation first, as well as last: on large contest graphs
        # it finds what the windows do not, within seconds, so that a
        # loaded machine, a short budget or global rounds that use up
        # the time still get it.
        self._recompute(
            recomputer, clock.now() + EARLY_RECOMPUTE_SHARE * self.left()
        )
        if self.problem.num_ops <= GLOBAL_MAX_OPS:
            settled = self._global(required, fine)
            if isinstance(settled, Result):
                return settled
        else:
            settled = _Settled(SolveStatus.FEASIBLE, None, "no global round")
        settled_base = self.base
        windows, gains = self._lns(fine)
        self._recompute(recomputer, self.deadline)
        if self.base is settled_base and not improves(
            self.best.objective, self.base.objective
        ):
            # The settled schedule is as good (up to rounding) and comes
            # with the global rounds' proof: return it.
            self.best = self.base
        status, bound = settled.status, settled.bound
        if not (self.best is self.base is settled_base):
            # The schedule is not the one the global rounds settled on
            # (it left their column set): their bound and proof do not
            # speak about it.
            status, bound = SolveStatus.FEASIBLE, None
        note = f"{settled.note}; {windows} windows, {gains} improving"
        if self.covered_at is not None:
            note += f", every op in a window by {self.covered_at:.1f} s"
        if self.best.source in ("heuristic", "initial"):
            note = f"CP-SAT did not improve on the {self.best.source} ({note})"
        return self._result(note, status, bound)

    def _recompute(self, recomputer: Recomputer, deadline: float) -> None:
        """A recomputation pass from :meth:`_pass_start`, if it has
        work, until ``deadline`` at most."""
        start = self._pass_start()
        if start is None:
            return
        base = self.base
        steps, objective = start
        found = recomputer.improve(steps, objective, deadline)
        if found is not None:
            steps, objective = found.steps, found.objective
            self._take(
                _Incumbent(None, found.solution, objective, "recompute")
            )
        finished = not recomputer.out_of_time
        self.last_pass = _Pass(base, steps, objective, finished)

    def _pass_start(self) -> tuple[Sequence[Step], float] | None:
        """Where a recomputation pass now would start, and at what
        latency: from the base if it changed since the last pass, else on
        from where the last pass stopped if its time ran out; None when
        it would have no work."""
        last = self.last_pass
        if last is None or last.base is not self.base:
            return self._base_steps(), self.base.objective
        if not last.finished:
            return last.steps, last.objective
        return None

    def _pass_pending(self) -> bool:
        """Whether a recomputation pass now would have work."""
        return self._pass_start() is not None

    def _global(
        self, required: list[Column], fine: GranularityOptimizer
    ) -> _Settled | Result:
        """Enumerate, refine and search until settled or out of time."""
        p = self.problem
        generator = ColumnGenerator(p, self.begin.optimizer)
        seeds = [s.ops for s in self.begin.steps]
        while True:
            # Enumeration and refinement get shares of the time left; when
            # CP-SAT settles a truncated column set early, another round
            # enumerates further (cached searches make the repeat cheap).
            self.rounds += 1
            generator.truncated = False
            enum_deadline = clock.now() + ENUMERATION_SHARE * self.left()
            regions = generator.regions(seeds, enum_deadline)
            best_cols = schedule_columns(p, self._base_steps())
            columns = generator.columns(
                regions, required + best_cols, enum_deadline
            )
            refine_deadline = clock.now() + REFINE_SHARE * self.left()
            columns = refine(columns, fine, refine_deadline)
            price_deadline = clock.now() + PRICING_SHARE * self.left()
            priced = price_columns(p, generator, columns, price_deadline, fine)
            columns = priced.columns
            if priced.schedule is not None:
                self._offer(list(priced.schedule))
            if meets(self.base.objective, priced.bound):
                # The LP over these columns already proves the base
                # optimal over them: no CP-SAT search can improve it.
                status, bound = SolveStatus.COLUMN_OPTIMAL, priced.bound
            elif self.left() <= MIN_SEARCH:
                return self._result(
                    "no time left for CP-SAT after column enumeration",
                    SolveStatus.FEASIBLE,
                )
            else:
                status, bound = self._search(columns)
            if status is SolveStatus.MODEL_INVALID:
                return self._result("CP-SAT rejected the model", status)
            if not (
                status is SolveStatus.COLUMN_OPTIMAL
                and generator.truncated
                and self.left() > 0.5
            ):
                break
        if status in (SolveStatus.INFEASIBLE, SolveStatus.UNKNOWN):
            if status is SolveStatus.INFEASIBLE:
                logger.error("CP-SAT found the hinted model infeasible")
            status = SolveStatus.FEASIBLE
        note = f"{len(columns)} columns, {self.rounds} round(s)"
        return _Settled(status, bound, note)

    def _lns(self, fine: GranularityOptimizer) -> tuple[int, int]:
        """Re-solve windows of the base schedule, rotating over the whole
        schedule, widening and then deepening after a pass without gain;
        after the first pass every consecutive window that finds nothing
        is followed by a connected neighbourhood. The number of windows
        solved and of those that improved."""
        search = WindowSearch(
            self.problem,
            self.rules,
            self.begin.optimizer,
            fine,
            self.settings,
        )
        rotation = Rotation(
            self.problem.num_ops, WINDOW_OPS, WIDEST_WINDOW, DEEPEST_LEVEL
        )
        windows = gains = turn = 0
        while self.left() > MIN_WINDOW + self._reserve():
            steps = self._base_steps()
            window = rotation.window(steps)
            found = self._window(search, steps, window, rotation.level)
            if found is not None:
                windows, gains = windows + 1, gains + found
            gained = bool(found)
            if (
                rotation.passes
                and not gained
                and self.left() > MIN_WINDOW + self._reserve()
            ):
                found = self._neighbourhood(search, turn, rotation)
                turn += 1
                if found is not None:
                    windows, gains = windows + 1, gains + found
                    gained = gained or found
            if not rotation.advance(steps, window, gained):
                break
        return windows, gains

    def _reserve(self) -> float:
        """Seconds the windows leave to the last recomputation pass: a
        share of the budget if it would have work, else none."""
        if not self._pass_pending():
            return 0.0
        return min(
            RECOMPUTE_SECONDS, RECOMPUTE_SHARE * (self.deadline - self.start)
        )

    def _neighbourhood(
        self, search: WindowSearch, turn: int, rotation: Rotation
    ) -> bool | None:
        """Re-solve the ``turn``-th connected neighbourhood of the
        base schedule, as wide as the rotation's windows; whether it
        improved, or None when it could not be moved to one block or was
        searched in vain before."""
        seed = self._seed(turn, rotation.target)
        block = neighbourhood(
            self.problem, self._base_steps(), seed, rotation.target
        )
        if block is None:
            return None
        moved = list(block.steps)
        return self._window(search, moved, block.window, rotation.level)

    def _seed(self, turn: int, ops: int) -> int:
        """The step of the base schedule a neighbourhood grows from: the
        one holding op ``turn * ops`` (mod the op count), so that seeds
        walk over the graph in op order."""
        op = (turn * ops) % self.problem.num_ops
        return next(i for i, s in enumerate(self._base_steps()) if op in s.ops)

    def _cover(self, part: list[Step]) -> None:
        """Count the ops of ``part`` as searched by a window."""
        if self.covered_at is not None:
            return
        self.covered.update(o for s in part for o in s.ops)
        if len(self.covered) == self.problem.num_ops:
            self.covered_at = clock.now() - self.start

    def _window(
        self,
        search: WindowSearch,
        steps: list[Step],
        window: Window,
        level: int,
    ) -> bool | None:
        """Re-solve one window of ``steps``; whether the base
        improved, or None for a window already searched in vain at this
        level (the same subgraphs give the same columns and search, and a
        window's gain does not depend on the rest of the schedule)."""
        part = steps[window.start : window.stop]
        self._cover(part)
        key = (tuple(part), level)
        if key in self.fruitless:
            return None
        seconds = WINDOW_SECONDS * (1 + level)
        out = search.solve(
            steps,
            window,
            self.base.objective,
            clock.now() + min(self.left(), seconds),
            self.on_improvement,
            level,
        )
        if out.solution is None or out.steps is None:
            self.fruitless.add(key)
            return False
        self._take(_Incumbent(out.steps, out.solution, out.objective, "cpsat"))
        return True

    def _search(
        self, columns: list[Column]
    ) -> tuple[SolveStatus, float | None]:
        """Search ``columns`` from the base schedule: the order-free master
        with cuts, then the positional model if cuts do not settle it."""
        master = OrderFreeModel(self.problem, columns)
        while True:
            out = self._solve(master)
            if out.status is SolveStatus.MODEL_INVALID or out.final is None:
                return out.status, out.bound
            ordering = master.order(out.final)
            if ordering.order is not None:
                return out.status, out.bound
            if out.status is not SolveStatus.COLUMN_OPTIMAL:
                return SolveStatus.FEASIBLE, out.bound
            if master.cuts >= MAX_CUTS or self.left() <= MIN_SEARCH:
                break
            master.cut(ordering.conflict)
        logger.info("%d cuts did not settle the order", master.cuts)
        out = self._solve(ColumnModel(self.problem, columns))
        return out.status, out.bound

    def _solve(self, master: MasterBase) -> ModelOutcome:
        """One CP-SAT search of ``master``, hinted with the base schedule."""
        master.hint(self._base_steps())
        logger.info(
            "CP-SAT round %d (%s): %d columns, %.2f s left",
            self.rounds,
            type(master).__name__,
            len(master.columns),
            self.left(),
        )
        out = solve_model(
            master,
            self.rules,
            self.base.objective,
            SEARCH_SHARE * self.left(),
            self.settings,
            self.on_improvement,
        )
        if out.solution is not None and out.steps is not None:
            self._take(
                _Incumbent(out.steps, out.solution, out.objective, "cpsat")
            )
        return out

    def _base_steps(self) -> list[Step]:
        """The base schedule's steps (it always has them)."""
        assert self.base.steps is not None
        return self.base.steps

    def _result(
        self, message: str, status: SolveStatus, bound: float | None = None
    ) -> Result:
        return Result(
            status=status,
            method="cpsat",
            rules=self.rules,
            objective=self.best.objective,
            solution=self.best.solution,
            runtime=time.perf_counter() - self.start,
            column_bound=bound,
            source=self.best.source,
            heuristic_objective=self.begin.objective,
            message=_noted(message, self.begin.bound.note),
        ).with_lower_bound(self.begin.lower_bound)


def _below(a: _Incumbent, b: _Incumbent) -> bool:
    """Whether ``a`` is a better schedule than ``b`` (not by rounding)."""
    return improves(a.objective, b.objective)


def _noted(message: str, note: str) -> str:
    """``message`` with ``note`` (if any) in parentheses."""
    return f"{message} ({note})" if note else message
