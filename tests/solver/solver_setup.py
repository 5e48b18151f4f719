"""Column sets built the way ``solve_cpsat`` builds them, for the tests."""

from __future__ import annotations

from mlsched import Problem
from mlsched.heuristics import GranularityOptimizer, ListScheduler
from mlsched.model.schedule import Step
from mlsched.solver import Column, ColumnGenerator, refine, schedule_columns


def heuristic_columns(
    problem: Problem, rules: str, refined: bool = False
) -> tuple[list[Step], list[Column]]:
    """The heuristic's steps and every column, as ``solve_cpsat`` builds
    them without time limits (``refined``: after the fine-grain pass)."""
    optimizer = GranularityOptimizer(problem, rules)
    steps = ListScheduler(problem, rules, optimizer).schedule()
    generator = ColumnGenerator(problem, optimizer)
    regions = generator.regions([s.ops for s in steps])
    columns = generator.columns(regions, schedule_columns(problem, steps))
    if refined:
        fine = GranularityOptimizer(problem, rules, fine=True)
        columns = refine(columns, fine)
    return steps, columns
