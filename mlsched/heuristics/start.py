"""The list-scheduler start shared by the facade and the CP-SAT driver."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import NamedTuple

from mlsched.heuristics.granularity import GranularityOptimizer
from mlsched.heuristics.scheduler import ListScheduler, naive_schedule
from mlsched.model import Problem, Solution, exact_objective
from mlsched.model.bounds import ProvenBound, lower_bound_by
from mlsched.model.result import ImprovementCallback
from mlsched.model.schedule import Step, to_solution
from mlsched.model.types import Rules


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
    bound
        The proven lower bound of the problem (over all valid schedules),
        traffic-aware unless its stop passed first.
    optimizer
        The granularity optimizer it used (its cache serves later stages).
    """

    steps: tuple[Step, ...]
    solution: Solution
    objective: float
    bound: ProvenBound
    optimizer: GranularityOptimizer

    @property
    def lower_bound(self) -> float:
        """The proven lower bound's value."""
        return self.bound.value


#: Seconds per op kept back from a list-scheduler deadline for costing
#: the schedule exactly (the evaluator: 0.44 s for 10,006 ops, idle).
FINISH_PER_OP = 1e-4
#: The proven lower bound after the list scheduler: its time is kept
#: back from the scheduler's deadline, per op (the contest profile's
#: traffic bound takes 4 s on an idle 1,000-op graph, strict 1.3 s), at
#: most this share of the limit. Where that is too little, the bound
#: stops at the deadline and falls back to the compute bound. The share
#: is small because the schedule is the answer: on 10,006 ops at 10 s a
#: share of 0.6 left the list scheduler too little to finish a fusion.
BOUND_SECONDS_PER_OP = 4e-3
BOUND_SHARE = 0.3
#: Seconds per op the compute bound (which the bound always finishes,
#: :func:`~mlsched.model.bounds.lower_bound_by`) needs: 1.05 s for
#: 10,006 ops in contest, idle. The reserve is never below it.
ALONE_SECONDS_PER_OP = 1.5e-4


def bound_reserve(num_ops: int, time_limit: float) -> float:
    """Seconds the list scheduler leaves for the proven lower bound:
    :data:`BOUND_SECONDS_PER_OP` per op, at most :func:`bound_share`."""
    return min(
        BOUND_SECONDS_PER_OP * num_ops, bound_share(num_ops, time_limit)
    )


def bound_share(num_ops: int, time_limit: float) -> float:
    """The most time the bound gets in a solve: :data:`BOUND_SHARE` of
    the limit, but at least what the compute bound needs
    (:data:`ALONE_SECONDS_PER_OP` per op)."""
    return max(BOUND_SHARE * time_limit, ALONE_SECONDS_PER_OP * num_ops)


class StartDeadlines(NamedTuple):
    """When a list-scheduler start must be done, in three parts."""

    #: The list scheduler's deadline (:func:`list_start`'s ``deadline``).
    schedule: float
    #: The lower bound's stop (:func:`list_start`'s ``bound_stop``).
    bound: float
    #: Seconds the bound may take once the schedule is costed, where a
    #: search follows the start (:func:`list_start`'s ``bound_seconds``):
    #: :func:`bound_share`.
    bound_seconds: float


def start_deadlines(
    num_ops: int, deadline: float, time_limit: float
) -> StartDeadlines:
    """The deadlines of a start that must be done, bound included, by
    ``deadline`` within a solve of ``time_limit`` seconds: the list
    scheduler leaves :func:`bound_reserve` for the bound."""
    return StartDeadlines(
        schedule=deadline - bound_reserve(num_ops, time_limit),
        bound=deadline,
        bound_seconds=bound_share(num_ops, time_limit),
    )


def list_start(
    problem: Problem,
    rules: Rules,
    deadline: float | None = None,
    optimizer: GranularityOptimizer | None = None,
    on_schedule: ImprovementCallback | None = None,
    bound_stop: float | None = None,
    bound_seconds: float | None = None,
) -> Start:
    """Run the list scheduler and cost its schedule exactly.

    Parameters
    ----------
    problem
        The problem.
    rules
        ``"strict"`` or ``"contest"``.
    deadline
        :func:`mlsched.clock.now` instant the schedule is wanted by (the
        list scheduler cuts its search short to meet it, keeping
        :data:`FINISH_PER_OP` per op for the exact costing).
    optimizer
        A granularity optimizer to share (its caches), or a new one.
    on_schedule
        Called with the schedule, its latency and None as soon as it is
        costed, before the lower bound (which can take seconds on a
        large graph): an anytime writer gets it early.
    bound_stop
        ``time.perf_counter()`` instant by which the lower bound must be
        done (past it, the compute bound alone is kept); None: no stop.
    bound_seconds
        Seconds the lower bound may take once the schedule is costed, if
        that ends before ``bound_stop``: a search after the start gets
        the rest (the contest traffic bound takes about a minute on
        10,000 ops); None: until ``bound_stop``.

    Raises
    ------
    Infeasible
        If an op fits at no granularity on its own.
    """
    if optimizer is None:
        optimizer = GranularityOptimizer(problem, rules)
    if deadline is not None:
        deadline -= FINISH_PER_OP * problem.num_ops
    scheduler = ListScheduler(problem, rules, optimizer)
    steps = tuple(scheduler.schedule(deadline))
    solution = to_solution(problem, steps)
    objective = exact_objective(problem, solution, rules)
    if on_schedule is not None:
        on_schedule(solution, objective, None)
    if bound_seconds is not None:
        limit = time.perf_counter() + bound_seconds
        bound_stop = limit if bound_stop is None else min(bound_stop, limit)
    return Start(
        steps=steps,
        solution=solution,
        objective=objective,
        bound=lower_bound_by(problem, rules, bound_stop),
        optimizer=optimizer,
    )


def first_solution(
    problem: Problem, optimizer: GranularityOptimizer
) -> tuple[Solution, float]:
    """The one-op-per-subgraph schedule and its latency, as fast as can be.

    No polish and no evaluator pass: each op alone at the coarse search's
    granularity is valid by construction (no retention, so every input is
    in slow memory), and the latencies are the class oracle's, each
    distinct op shape searched and costed once. This is the schedule an
    anytime writer puts on disk first.

    Raises
    ------
    Infeasible
        If an op fits at no granularity on its own.
    """
    solution = to_solution(problem, naive_schedule(problem, optimizer))
    return solution, math.fsum(solution.subgraph_latencies)


def improving(
    callback: ImprovementCallback, best: float = math.inf
) -> ImprovementCallback:
    """``callback``, called only for solutions strictly better than
    ``best`` and than every one passed before (thread-safe: CP-SAT
    reports from its own threads), so a stage that finds nothing better
    than an earlier one reports nothing."""
    lock = threading.Lock()
    state = [best]

    def report(
        solution: Solution, objective: float, bound: float | None
    ) -> None:
        with lock:
            if objective < state[0]:
                state[0] = objective
                callback(solution, objective, bound)

    return report
