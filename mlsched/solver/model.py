"""The positional CP-SAT master model over a fixed set of columns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ortools.sat.python import cp_model

from mlsched.model import Problem
from mlsched.model.schedule import Step
from mlsched.solver.columns import Column
from mlsched.solver.constraints import (
    add_coverage,
    add_positions,
    add_precedence,
    add_retention,
)
from mlsched.solver.hints import set_hint
from mlsched.solver.objective import scale_for, set_objective
from mlsched.solver.variables import make_variables


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

    @property
    def slack(self) -> float:
        """How far below a schedule's latency its model objective may be.

        Each selected column's latency is rounded to whole units, moving
        the objective by at most half a unit per subgraph.
        """
        return 0.5 * self.problem.num_ops / self.scale

    def objective_of(self, steps: Sequence[Step]) -> float:
        """The model's (scaled back) objective for ``steps``."""
        total = sum(
            round(self.columns[c].latency * self.scale)
            for c in self.index_of(steps)
        )
        return total / self.scale
