"""Column sets built the way ``solve_cpsat`` builds them, tiny problems and
brute-force schedule enumeration, for the solver tests."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from types import MappingProxyType
from typing import NamedTuple

import pytest
from generators import random_problem
from ortools.sat.python import cp_model

from mlsched import Problem, evaluate, load_problem
from mlsched.heuristics import GranularityOptimizer, ListScheduler
from mlsched.heuristics.start import list_start
from mlsched.model.schedule import Step, to_solution
from mlsched.solver import Column, ColumnGenerator, refine, schedule_columns
from mlsched.solver.driver import _Driver
from mlsched.solver.model import MasterBase
from mlsched.solver.recompute import Recomputer
from mlsched.solver.sat import SatSettings

SMALL = (
    "example1",  # 2 Pointwise ops
    "example2",  # MatMul then Pointwise
    "example3",  # 3 Pointwise ops sharing T1
    "example4",  # 1 MatMul
    "example5",  # MatMul chain
    "example_problem",  # 2 Pointwise ops, tight capacity
    "mlsys-2026-1",  # 5 ops
    "mlsys-2026-2",  # 5 Pointwise ops
    "mlsys-2026-3",  # 4 ops
    "mlsys-2026-4",  # 5 ops, retention contexts
    "mlsys-2026-5",  # 19 ops
    "mlsys-2026-6",  # 17 ops
    "mlsys-2026-7",  # 15 ops
    "mlsys-2026-8",  # 20 ops, many retention contexts
)


def heuristic_columns(
    problem: Problem, rules: str, refined: bool = False
) -> tuple[list[Step], list[Column]]:
    """The heuristic's steps and every column, as ``solve_cpsat`` builds
    them without time limits (``refined``: after the fine-grain pass).

    Without time limits both are functions of the problem and the
    profile: each is built once per session (the lists are the caller's
    own copies)."""
    steps, columns = _heuristic_columns(problem, rules, refined)
    return list(steps), list(columns)


@cache
def _heuristic_columns(
    problem: Problem, rules: str, refined: bool
) -> tuple[tuple[Step, ...], tuple[Column, ...]]:
    """:func:`heuristic_columns`, once per problem, profile and pass."""
    if refined:
        steps, columns = _heuristic_columns(problem, rules, False)
        fine = GranularityOptimizer(problem, rules, fine=True)
        return steps, tuple(refine(list(columns), fine))
    optimizer = GranularityOptimizer(problem, rules)
    listed = ListScheduler(problem, rules, optimizer).schedule()
    generator = ColumnGenerator(problem, optimizer)
    regions = generator.regions([s.ops for s in listed])
    built = generator.columns(regions, schedule_columns(problem, listed))
    return tuple(listed), tuple(built)


def started_driver(name: str, rules: str) -> _Driver:
    """A one-worker driver of bundled ``name`` at its list schedule, 60 s
    left, for tests of its stages."""
    problem = load_problem(name)
    now = time.perf_counter()
    driver = _Driver(
        problem, rules, now, now + 60, SatSettings(num_workers=1), None
    )
    driver.start_from(list_start(problem, rules))
    return driver


def exact_latency(
    problem: Problem, steps: Sequence[Step], rules: str
) -> float:
    """The evaluator's total latency of ``steps``, which must be valid."""
    ev = evaluate(problem, to_solution(problem, steps), rules)
    assert ev.valid, (ev.category, ev.message)
    return float(ev.total_latency)


def slack(cm: MasterBase, n_subgraphs: int, latency: float) -> float:
    """How far the model objective may be from the exact latency."""
    return 0.5 * n_subgraphs / cm.scale + 1e-9 * latency


def solver_with(**params: object) -> cp_model.CpSolver:
    """A single-worker CP-SAT solver with the given parameters."""
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 10.0
    for name, value in params.items():
        setattr(solver.parameters, name, value)
    return solver


def schedules(
    problem: Problem, columns: Sequence[Column]
) -> Iterator[tuple[int, ...]]:
    """Every sequence of columns covering each op once in which each
    column's P is what its predecessor retains (nothing for the first),
    the last column retains nothing, and every producer runs no later
    than its consumers."""
    needs = []
    for col in columns:
        inside = set(col.ops)
        needs.append(
            {
                problem.producer[t]
                for o in col.ops
                for t in problem.inputs[o]
                if t in problem.producer
            }
            - inside
        )
    every = frozenset(range(problem.num_ops))

    def extend(
        done: frozenset[int], retained: frozenset[int], order: list[int]
    ) -> Iterator[tuple[int, ...]]:
        if done == every:
            if not retained:
                yield tuple(order)
            return
        for i, col in enumerate(columns):
            if col.retain_in != retained or not needs[i] <= done:
                continue
            if done.intersection(col.ops):
                continue
            order.append(i)
            yield from extend(done.union(col.ops), col.retain_out, order)
            order.pop()

    yield from extend(frozenset(), frozenset(), [])


class Enumerated(NamedTuple):
    """The refined heuristic columns of a problem and, by brute force,
    every valid schedule built from them."""

    columns: tuple[Column, ...]
    #: Column indices in run order -> the evaluator's total latency, for
    #: each sequence of :func:`schedules` that ``evaluate`` accepts.
    valid: Mapping[tuple[int, ...], float]


#: The tests that call :func:`enumerated` run in one pytest-xdist worker,
#: which enumerates each problem's schedules once.
shares_enumerated = pytest.mark.xdist_group("enumerated_schedules")


@cache
def enumerated(problem: Problem, rules: str) -> Enumerated:
    """:class:`Enumerated` for ``problem`` under ``rules``.

    Computed once per session: the exhaustive tests of the positional
    model and of the order-free master enumerate the same schedules.
    """
    _, columns = heuristic_columns(problem, rules, refined=True)
    valid: dict[tuple[int, ...], float] = {}
    for order in schedules(problem, columns):
        steps = [columns[i].step() for i in order]
        ev = evaluate(problem, to_solution(problem, steps), rules)
        if ev.valid:
            valid[order] = float(ev.total_latency)
    return Enumerated(tuple(columns), MappingProxyType(valid))


def tiny_problems() -> list[tuple[str, Problem]]:
    """Bundled instances of at most 5 ops and random ones of 3-7 ops."""
    named = [
        (name, load_problem(name))
        for name in SMALL
        if load_problem(name).num_ops <= 5
    ]
    for seed in range(16):
        rng = random.Random(1000 + seed)
        raw = random_problem(rng, rng.randint(3, 7))
        named.append((f"random-{seed}", load_problem(raw)))
    return named


TINY = tiny_problems()


def slow_recomputer(
    problem: Problem, rules: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Recomputer, list[object]]:
    """A recomputer whose every move takes 0.3 s and finds nothing, and
    the list of the moves it tries."""
    fine = GranularityOptimizer(problem, rules, fine=True)
    recomputer = Recomputer(problem, rules, fine)
    tried: list[object] = []

    def slow(move: object, objective: float) -> None:
        tried.append(move)
        time.sleep(0.3)

    monkeypatch.setattr(recomputer, "_try", slow)
    return recomputer, tried
