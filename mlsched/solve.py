"""The facade: one ``solve`` for every method."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from mlsched import clock
from mlsched.heuristics import (
    GranularityOptimizer,
    Infeasible,
    naive_schedule,
)
from mlsched.heuristics.start import (
    first_solution,
    improving,
    list_start,
    start_deadlines,
)
from mlsched.model import (
    InputError,
    Problem,
    Solution,
    evaluate,
    exact_objective,
    load_problem,
    load_solution,
)
from mlsched.model.bounds import lower_bound, lower_bound_by
from mlsched.model.io import Source
from mlsched.model.result import ImprovementCallback, Result, SolveStatus
from mlsched.model.schedule import to_solution
from mlsched.model.types import METHODS, RULES, Method, Rules

logger = logging.getLogger(__name__)


def solve(
    problem: Source | Problem,
    method: Method = "cpsat",
    rules: Rules = "strict",
    time_limit: float | None = None,
    num_workers: int | None = None,
    seed: int = 0,
    log: bool = False,
    on_improvement: ImprovementCallback | None = None,
    initial_solution: Source | Solution | None = None,
    deterministic: bool = False,
    **sat_params: Any,
) -> Result:
    """Find a schedule.

    Parameters
    ----------
    problem
        A :class:`Problem`, path, bundled name or dict.
    method
        ``"cpsat"`` (list scheduler + CP-SAT refinement), ``"heuristic"``
        (the list scheduler alone) or ``"naive"`` (one op per subgraph).
    rules
        ``"strict"`` (default) or ``"contest"``.
    time_limit
        Wall-clock budget in seconds from the call (``"cpsat"``: default
        10). The other methods take none by default; given one, the list
        scheduler and the polish stop early to meet it.
    num_workers
        CP-SAT search workers (default: the machine's cores).
    seed
        Random seed of the CP-SAT search.
    log
        Show the CP-SAT search log.
    on_improvement
        Called with every improving solution (for anytime writers),
        first with the one-op-per-subgraph schedule before any search.
    initial_solution
        A schedule to start from (a :class:`Solution`, path or dict),
        valid under ``rules``. The result is never worse than it; with
        ``"cpsat"`` it is the first incumbent if better than the list
        schedule, and its subgraphs become columns of the model.
    deterministic
        Reproducible: every budget inside the solve is measured in
        counted work (CP-SAT: deterministic time, one worker) instead of
        seconds, so the same problem, seed and ``time_limit`` give the
        same schedule on any machine load. The wall clock still stops
        the solve at ``time_limit``; if it has to, the result may differ
        between runs (a warning is logged and the message says so).
    **sat_params
        Extra CP-SAT parameters, by name.

    Returns
    -------
    Result
        Status, best solution, objective re-computed by ``evaluate``,
        bound, gap, the proven lower bound and runtime. The status is
        ``OPTIMAL`` whenever the latency meets the proven lower bound.

    Raises
    ------
    InputError
        If the problem or the initial schedule is malformed, or the
        initial schedule is invalid under ``rules`` (the message names
        the category).
    ValueError
        For an unknown method or rule profile.
    """
    start = time.perf_counter()
    _check_choices(method, rules)
    p = load_problem(problem)
    initial = _valid_initial(p, initial_solution, rules)
    search = _Search(num_workers, seed, log, deterministic, sat_params)
    return _run(
        p, method, rules, time_limit, start, initial, search, on_improvement
    )


@dataclass(frozen=True)
class _Search:
    """The arguments of :func:`solve` that only shape the search."""

    num_workers: int | None
    seed: int
    log: bool
    deterministic: bool
    sat_params: dict[str, Any]


def _run(
    p: Problem,
    method: Method,
    rules: Rules,
    time_limit: float | None,
    start: float,
    initial: Solution | None,
    search: _Search,
    on_improvement: ImprovementCallback | None,
) -> Result:
    """The stages of :func:`solve` once its input is checked: the first
    schedule for anytime callers, then CP-SAT or the list scheduler."""
    optimizer = GranularityOptimizer(p, rules)
    if on_improvement is not None:
        # Anytime callers get a valid schedule first, before any search.
        try:
            quick = first_solution(p, optimizer)
        except Infeasible as exc:
            return Result.infeasible(
                method, rules, time.perf_counter() - start, str(exc)
            )
        on_improvement = _announce_first(
            p, quick, initial, rules, on_improvement
        )
    if method == "cpsat":
        start = _load_solver(start)
        from mlsched.solver import solve_cpsat

        return solve_cpsat(
            p,
            rules=rules,
            time_limit=10.0 if time_limit is None else time_limit,
            num_workers=search.num_workers,
            seed=search.seed,
            log=search.log,
            on_improvement=on_improvement,
            start=start,
            initial_solution=initial,
            deterministic=search.deterministic,
            **search.sat_params,
        )
    deadline = None if time_limit is None else start + time_limit
    with clock.virtual_if(
        search.deterministic and deadline is not None, start, deadline or start
    ) as virtual:
        result = _solve_list(
            p, method, rules, start, on_improvement, optimizer, deadline
        )
    if virtual is not None and virtual.lost:
        result = result.marked_cut_short()
    if initial is None:
        return result
    return _keep_better(p, result, initial, on_improvement)


def _check_choices(method: str, rules: str) -> None:
    """Raise ValueError for an unknown method or rule profile."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if rules not in RULES:
        raise ValueError(f"rules must be one of {RULES}, not {rules!r}")


def _announce_first(
    p: Problem,
    quick: tuple[Solution, float],
    initial: Solution | None,
    rules: Rules,
    on_improvement: ImprovementCallback,
) -> ImprovementCallback:
    """Hand ``on_improvement`` the first schedule, the better of the quick
    one and ``initial``; returns the callback for strict improvements
    only from then on."""
    first, objective = quick
    if initial is not None:
        # Never a first schedule worse than the one given.
        given = exact_objective(p, initial, rules)
        if given < objective:
            first, objective = initial, given
    on_improvement(first, objective, None)
    return improving(on_improvement, objective)


def _load_solver(start: float) -> float:
    """Import the CP-SAT layer and return ``start`` moved later by the
    time that took.

    Imported after the first schedule is out (anytime writers get it at
    once) and kept off the clock: loading OR-Tools (0.5-2 s in a fresh
    process) is a one-time cost, not part of the budget.
    """
    loading = time.perf_counter()
    import mlsched.solver  # noqa: F401

    return start + time.perf_counter() - loading


def _valid_initial(
    p: Problem, source: Source | Solution | None, rules: Rules
) -> Solution | None:
    """The initial schedule, loaded and checked under ``rules``."""
    if source is None:
        return None
    initial = load_solution(source)
    ev = evaluate(p, initial, rules)
    if not ev.valid:
        raise InputError(
            f"initial schedule is invalid under {rules} rules "
            f"[{ev.category}]: {ev.message}"
        )
    return initial


def _keep_better(
    p: Problem,
    result: Result,
    initial: Solution,
    on_improvement: ImprovementCallback | None,
) -> Result:
    """``result``, or the initial schedule where that is better."""
    objective = exact_objective(p, initial, result.rules)
    if result.solution is not None and result.objective <= objective:
        return result
    if on_improvement is not None:
        on_improvement(initial, objective, None)
    better = replace(
        result,
        status=SolveStatus.FEASIBLE,
        objective=objective,
        solution=initial,
        source="initial",
        message=f"the initial schedule beats the {result.method} schedule",
        cut_short=False,
    )
    if result.cut_short:
        better = better.marked_cut_short()
    return better.with_lower_bound(
        lower_bound(p, result.rules)
        if result.lower_bound is None
        else result.lower_bound
    )


def _solve_list(
    p: Problem,
    method: Method,
    rules: Rules,
    start: float,
    on_improvement: ImprovementCallback | None,
    optimizer: GranularityOptimizer,
    deadline: float | None,
) -> Result:
    """The naive or list schedule, without CP-SAT, by ``deadline``."""
    try:
        if method == "naive":
            # The baseline's granularities are polished like the list
            # scheduler's, so that speedups over it are not flattered.
            fine = GranularityOptimizer(p, rules, fine=True)
            steps = naive_schedule(p, optimizer, fine, deadline)
            solution = to_solution(p, steps)
            bound = lower_bound_by(p, rules, deadline)
            objective = exact_objective(p, solution, rules)
        else:
            by = (
                None
                if deadline is None
                else start_deadlines(p.num_ops, deadline, deadline - start)
            )
            begin = list_start(
                p,
                rules,
                None if by is None else by.schedule,
                optimizer,
                on_improvement,
                bound_stop=None if by is None else by.bound,
            )
            solution, objective = begin.solution, begin.objective
            bound = begin.bound
    except Infeasible as exc:
        return Result.infeasible(
            method, rules, time.perf_counter() - start, str(exc)
        )
    if on_improvement is not None:
        on_improvement(solution, objective, None)
    return Result(
        status=SolveStatus.FEASIBLE,
        method=method,
        rules=rules,
        objective=objective,
        solution=solution,
        runtime=time.perf_counter() - start,
        source=method,
        heuristic_objective=objective if method == "heuristic" else None,
        message=bound.note,
    ).with_lower_bound(bound.value)
