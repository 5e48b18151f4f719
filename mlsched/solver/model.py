"""The CP-SAT column model and the anytime solve around it."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ortools.sat.python import cp_model

from mlsched.heuristics import (
    GranularityOptimizer,
    Infeasible,
    ListScheduler,
)
from mlsched.model import (
    Problem,
    Solution,
    evaluate,
    exact_objective,
)
from mlsched.model.bounds import lower_bound, meets
from mlsched.model.result import Result, SolveStatus
from mlsched.model.schedule import Step, to_solution
from mlsched.solver.columns import (
    Column,
    ColumnGenerator,
    refine,
    schedule_columns,
)
from mlsched.solver.constraints import (
    add_coverage,
    add_positions,
    add_precedence,
    add_retention,
)
from mlsched.solver.hints import set_hint
from mlsched.solver.objective import scale_for, set_objective
from mlsched.solver.status import to_status
from mlsched.solver.variables import make_variables

logger = logging.getLogger(__name__)

Improvement = Callable[[Solution, float, float | None], None]

# Seconds kept back from the budget for decoding, evaluating and writing
# the final schedule and for leaving the process.
FINISH_MARGIN = 0.25
# Shares of the remaining budget for enumerating columns, then for
# refining their granularities.
ENUMERATION_SHARE = 0.3
REFINE_SHARE = 0.25


class ColumnModel:
    """The master model over a fixed set of columns.

    Parameters
    ----------
    problem
        The problem.
    columns
        Candidate subgraphs; together they must cover every op.
    """

    def __init__(self, problem: Problem, columns: Sequence[Column]) -> None:
        self.problem = problem
        self.columns = list(columns)
        self.model = cp_model.CpModel()
        self.vars = make_variables(self.model, problem, self.columns)
        add_coverage(self.model, self.columns, self.vars, problem.num_ops)
        add_positions(self.model, self.columns, self.vars)
        add_precedence(self.model, problem, self.vars)
        add_retention(self.model, problem, self.columns, self.vars)
        self.scale = scale_for(self.columns)
        set_objective(self.model, self.columns, self.vars, self.scale)
        self._index = {
            (c.ops, c.retain_in, c.retain_out): i
            for i, c in enumerate(self.columns)
        }

    def index_of(self, steps: Sequence[Step]) -> list[int]:
        """Column indices of a schedule's steps (each must be a column)."""
        chosen = []
        retain_in: frozenset[int] = frozenset()
        for s in steps:
            key = (s.ops, retain_in, frozenset(s.retain))
            chosen.append(self._index[key])
            retain_in = frozenset(s.retain)
        return chosen

    def hint(self, steps: Sequence[Step]) -> None:
        """Hint every variable with ``steps``."""
        set_hint(self.model, self.columns, self.vars, self.index_of(steps))

    def decode(self, value: Callable[[Any], int]) -> list[Step]:
        """The schedule of an assignment (``value`` reads a variable)."""
        chosen = [c for c, lit in enumerate(self.vars.select) if value(lit)]
        chosen.sort(
            key=lambda c: value(self.vars.position[self.columns[c].ops[0]])
        )
        return [self.columns[c].step() for c in chosen]

    def objective_of(self, steps: Sequence[Step]) -> float:
        """The model's (scaled back) objective for ``steps``."""
        total = sum(
            round(self.columns[c].latency * self.scale)
            for c in self.index_of(steps)
        )
        return total / self.scale


class _Incumbent(cp_model.CpSolverSolutionCallback):
    """Keeps the best exactly re-evaluated schedule found by CP-SAT."""

    def __init__(
        self,
        cm: ColumnModel,
        rules: str,
        objective: float,
        on_improvement: Improvement | None,
    ) -> None:
        super().__init__()
        self.cm = cm
        self.rules = rules
        self.objective = objective
        self.solution: Solution | None = None
        self.steps: list[Step] = []
        self.on_improvement = on_improvement
        self.lock = threading.Lock()
        self.improvements = 0

    def on_solution_callback(self) -> None:
        steps = self.cm.decode(self.value)
        solution = to_solution(self.cm.problem, steps)
        ev = evaluate(self.cm.problem, solution, self.rules)
        if not ev.valid:  # a modelling bug: never hand it out
            logger.error(
                "CP-SAT solution is invalid [%s] %s", ev.category, ev.message
            )
            return
        with self.lock:
            if ev.total_latency >= self.objective * (1 - 1e-12):
                return
            self.objective = ev.total_latency
            self.solution = solution
            self.steps = steps
            self.improvements += 1
        if self.on_improvement is not None:
            bound = self.best_objective_bound / self.cm.scale
            self.on_improvement(solution, ev.total_latency, bound)


def solve_cpsat(
    problem: Problem,
    rules: str = "strict",
    time_limit: float = 10.0,
    num_workers: int | None = None,
    seed: int = 0,
    log: bool = False,
    on_improvement: Improvement | None = None,
    start: float | None = None,
    **sat_params: Any,
) -> Result:
    """List scheduler, then CP-SAT over enumerated columns, anytime.

    See :func:`mlsched.solve` for the parameters. ``start`` is the
    ``time.perf_counter()`` instant the budget counts from.
    """
    start = time.perf_counter() if start is None else start
    deadline = start + time_limit - FINISH_MARGIN
    _set_params(
        cp_model.CpSolver().parameters, 1.0, num_workers, seed, log, sat_params
    )

    def left() -> float:
        return deadline - time.perf_counter()

    optimizer = GranularityOptimizer(problem, rules)
    try:
        steps = ListScheduler(problem, rules, optimizer).schedule()
    except Infeasible as exc:
        return Result.infeasible(
            "cpsat", rules, time.perf_counter() - start, str(exc)
        )
    heuristic = to_solution(problem, steps)
    h_obj = exact_objective(problem, heuristic, rules)
    floor = lower_bound(problem, rules)
    if on_improvement is not None:
        on_improvement(heuristic, h_obj, None)

    def outcome(
        message: str,
        status: SolveStatus,
        bound: float | None = None,
        found: Solution | None = None,
        objective: float = h_obj,
    ) -> Result:
        improved = found is not None
        return Result(
            status=status,
            method="cpsat",
            rules=rules,
            objective=objective if improved else h_obj,
            solution=found if found is not None else heuristic,
            runtime=time.perf_counter() - start,
            bound=bound,
            source="cpsat" if improved else "heuristic",
            heuristic_objective=h_obj,
            message=message,
        ).with_lower_bound(floor)

    if meets(h_obj, floor):
        return outcome(
            "the heuristic meets the proven lower bound",
            SolveStatus.OPTIMAL,
            bound=floor,
        )
    if left() <= 0.05:
        return outcome("no time left for CP-SAT", SolveStatus.FEASIBLE)
    generator = ColumnGenerator(problem, optimizer)
    fine = GranularityOptimizer(problem, rules, fine=True)
    seeds = [s.ops for s in steps]
    required = schedule_columns(problem, steps)
    best_steps: list[Step] = list(steps)
    best: Solution | None = None
    best_obj = h_obj
    rounds = 0
    while True:
        # Enumeration and refinement get shares of the time left; when
        # CP-SAT settles a truncated column set early, another round
        # enumerates further (cached searches make the repeat cheap).
        rounds += 1
        generator.truncated = False
        enum_deadline = time.monotonic() + ENUMERATION_SHARE * left()
        regions = generator.regions(seeds, enum_deadline)
        columns = generator.columns(
            regions,
            required + schedule_columns(problem, best_steps),
            enum_deadline,
        )
        refine_deadline = time.monotonic() + REFINE_SHARE * left()
        columns = refine(columns, fine, refine_deadline)
        if left() <= 0.05:
            if best is None:
                return outcome(
                    "no time left for CP-SAT after column enumeration",
                    SolveStatus.FEASIBLE,
                )
            break
        cm = ColumnModel(problem, columns)
        cm.hint(best_steps)
        solver = cp_model.CpSolver()
        _set_params(
            solver.parameters, left(), num_workers, seed, log, sat_params
        )
        callback = _Incumbent(cm, rules, best_obj, on_improvement)
        logger.info(
            "CP-SAT round %d: %d columns, %.2f s left",
            rounds,
            len(columns),
            left(),
        )
        status = to_status(solver.solve(cm.model, callback))
        if status is SolveStatus.MODEL_INVALID:
            logger.error("CP-SAT model invalid: %s", cm.model.validate())
            return outcome("CP-SAT rejected the model", status)
        if callback.solution is not None:
            best, best_obj = callback.solution, callback.objective
            best_steps = callback.steps
        if not (
            status is SolveStatus.OPTIMAL
            and generator.truncated
            and left() > 0.5
        ):
            break
    bound = None
    if status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        # Rounding each selected column's latency moves the objective by
        # at most half a unit per subgraph.
        slack = 0.5 * problem.num_ops / cm.scale
        bound = max(0.0, solver.best_objective_bound / cm.scale - slack)
    if status is SolveStatus.INFEASIBLE:
        logger.error("CP-SAT found the hinted model infeasible")
        status = SolveStatus.FEASIBLE
    if status is SolveStatus.UNKNOWN:
        status = SolveStatus.FEASIBLE
    note = f"{len(columns)} columns, {rounds} round(s)"
    if best is None:
        return outcome(
            f"CP-SAT did not improve on the heuristic ({note})",
            status,
            bound,
        )
    return outcome(note, status, bound, best, best_obj)


def _set_params(
    params: Any,
    seconds: float,
    num_workers: int | None,
    seed: int,
    log: bool,
    sat_params: dict[str, Any],
) -> None:
    """Fill CP-SAT parameters; unknown names raise ValueError."""
    params.max_time_in_seconds = max(0.01, seconds)
    params.num_workers = num_workers or os.cpu_count() or 1
    params.random_seed = seed
    params.log_search_progress = log
    # CP-SAT's own SIGINT handler crashes when the search runs in a worker
    # thread (as the CLI runs it); the callers handle signals themselves.
    params.catch_sigint_signal = False
    for name, value in sat_params.items():
        if not hasattr(params, name):
            raise ValueError(f"unknown CP-SAT parameter {name!r}")
        setattr(params, name, value)
