"""The list-scheduler start shared by the facade and the CP-SAT driver."""

from __future__ import annotations

from dataclasses import dataclass

from mlsched.heuristics.granularity import GranularityOptimizer
from mlsched.heuristics.scheduler import ListScheduler
from mlsched.model import Problem, Solution, exact_objective
from mlsched.model.bounds import lower_bound
from mlsched.model.schedule import Step, to_solution


@dataclass(frozen=True)
class Start:
    """The list scheduler's schedule with its exact cost.

    Attributes
    ----------
    steps
        The schedule.
    solution
        Its contest solution, with exact subgraph latencies.
    objective
        Its total latency by the evaluator.
    lower_bound
        The proven lower bound of the problem (over all valid schedules).
    optimizer
        The granularity optimizer it used (its cache serves later stages).
    """

    steps: tuple[Step, ...]
    solution: Solution
    objective: float
    lower_bound: float
    optimizer: GranularityOptimizer


def list_start(
    problem: Problem, rules: str, deadline: float | None = None
) -> Start:
    """Run the list scheduler and cost its schedule exactly.

    Parameters
    ----------
    problem
        The problem.
    rules
        ``"strict"`` or ``"contest"``.
    deadline
        ``time.perf_counter()`` instant the schedule is wanted by (the
        list scheduler cuts its search short to meet it).

    Raises
    ------
    Infeasible
        If an op fits at no granularity on its own.
    """
    del deadline  # the list scheduler takes no deadline yet
    optimizer = GranularityOptimizer(problem, rules)
    steps = tuple(ListScheduler(problem, rules, optimizer).schedule())
    solution = to_solution(problem, steps)
    return Start(
        steps=steps,
        solution=solution,
        objective=exact_objective(problem, solution, rules),
        lower_bound=lower_bound(problem, rules),
        optimizer=optimizer,
    )
