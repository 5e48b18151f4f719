"""Running CP-SAT on a column model: parameters and the incumbent."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ortools.sat.python import cp_model

from mlsched import clock
from mlsched.model import Solution, evaluate
from mlsched.model.result import ImprovementCallback, SolveStatus
from mlsched.model.schedule import Step, to_solution
from mlsched.model.types import Rules, improves
from mlsched.solver.model import MasterBase
from mlsched.solver.status import to_status

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SatSettings:
    """How every CP-SAT search of one solve runs.

    Attributes
    ----------
    num_workers
        Search workers (``None``: the machine's cores).
    seed
        Random seed.
    log
        Show CP-SAT's search log.
    params
        Extra CP-SAT parameters, by name.
    """

    num_workers: int | None = None
    seed: int = 0
    log: bool = False
    params: dict[str, Any] = field(default_factory=dict)

    def apply(self, params: Any, seconds: float) -> None:
        """Fill CP-SAT parameters for a search of ``seconds`` on the
        current clock; unknown names raise ValueError.

        On a virtual clock (:mod:`mlsched.clock`) the search is bounded
        by deterministic time and runs one worker, so that it does the
        same work whatever the load; the wall limit is then the hard
        stop only.
        """
        wall, deterministic = clock.current().sat_limits(seconds)
        params.max_time_in_seconds = wall
        params.num_workers = self.num_workers or os.cpu_count() or 1
        if deterministic is not None:
            params.max_deterministic_time = deterministic
            params.num_workers = 1
        params.random_seed = self.seed
        params.log_search_progress = self.log
        # CP-SAT's own SIGINT handler crashes when the search runs in a
        # worker thread (as the CLI runs it); the callers handle signals.
        params.catch_sigint_signal = False
        for name, value in self.params.items():
            if not hasattr(params, name):
                raise ValueError(f"unknown CP-SAT parameter {name!r}")
            setattr(params, name, value)

    def check(self) -> None:
        """Raise ValueError for an unknown CP-SAT parameter name."""
        self.apply(cp_model.CpSolver().parameters, 1.0)


#: Turns the steps of a model over part of the ops into a whole schedule.
Completion = Callable[[list[Step]], list[Step]]


class Incumbent(cp_model.CpSolverSolutionCallback):
    """Keeps the best exactly re-evaluated schedule found by CP-SAT.

    With ``complete``, the model covers a window of a schedule: each of
    its solutions is spliced into the whole schedule before evaluation,
    and its bound (over the window only) is not reported.
    """

    def __init__(
        self,
        cm: MasterBase,
        rules: Rules,
        objective: float,
        on_improvement: ImprovementCallback | None,
        complete: Completion | None = None,
    ) -> None:
        super().__init__()
        self.cm = cm
        self.complete = complete
        self.rules = rules
        self.objective = objective
        self.solution: Solution | None = None
        self.steps: list[Step] = []
        self.on_improvement = on_improvement
        self.lock = threading.Lock()
        self.improvements = 0

    def on_solution_callback(self) -> None:
        steps = self.cm.decode(self.value)
        if steps is None:  # an order-free selection with no order
            return
        if self.complete is not None:
            steps = self.complete(steps)
        solution = to_solution(self.cm.problem, steps)
        ev = evaluate(self.cm.problem, solution, self.rules)
        if not ev.valid:  # a modelling bug: never hand it out
            logger.error(
                "CP-SAT solution is invalid [%s] %s", ev.category, ev.message
            )
            return
        with self.lock:
            if not improves(ev.total_latency, self.objective):
                return
            self.objective = ev.total_latency
            self.solution = solution
            self.steps = steps
            self.improvements += 1
        if self.on_improvement is not None:
            bound = None
            if self.complete is None:
                bound = max(
                    0.0,
                    self.best_objective_bound / self.cm.scale - self.cm.slack,
                )
            self.on_improvement(solution, ev.total_latency, bound)


@dataclass(frozen=True)
class ModelOutcome:
    """What one CP-SAT search over a column model found.

    Attributes
    ----------
    status
        CP-SAT's status (COLUMN_OPTIMAL: optimal over the model's
        columns).
    steps
        The best schedule found that beats the given objective, or None.
    solution
        Its solution, or None.
    objective
        Its exact latency (the given objective when nothing beat it).
    bound
        CP-SAT's bound over the columns in latency units, less the
        rounding slack; None when CP-SAT proved nothing.
    final
        The column indices of CP-SAT's last solution (ordered or not), or
        None without one.
    """

    status: SolveStatus
    steps: list[Step] | None
    solution: Solution | None
    objective: float
    bound: float | None
    final: list[int] | None


def solve_model(
    cm: MasterBase,
    rules: Rules,
    objective: float,
    seconds: float,
    settings: SatSettings,
    on_improvement: ImprovementCallback | None = None,
    complete: Completion | None = None,
) -> ModelOutcome:
    """Search ``cm`` for ``seconds`` for schedules below ``objective``
    (whole schedules: see :class:`Incumbent` for ``complete``)."""
    solver = cp_model.CpSolver()
    # Rounding already costs up to half a unit per subgraph: a smaller
    # gap proves nothing more.
    solver.parameters.absolute_gap_limit = 0.5 * len(cm.ops)
    settings.apply(solver.parameters, seconds)
    callback = Incumbent(cm, rules, objective, on_improvement, complete)
    status = to_status(solver.solve(cm.model, callback))
    clock.current().charge(solver.deterministic_time)
    if status is SolveStatus.MODEL_INVALID:
        logger.error("CP-SAT model invalid: %s", cm.model.validate())
    bound = final = None
    if status in (SolveStatus.COLUMN_OPTIMAL, SolveStatus.FEASIBLE):
        bound = max(0.0, solver.best_objective_bound / cm.scale - cm.slack)
        final = cm.chosen(solver.boolean_value)
    found = callback.solution is not None
    return ModelOutcome(
        status=status,
        steps=callback.steps if found else None,
        solution=callback.solution,
        objective=callback.objective,
        bound=bound,
        final=final,
    )
