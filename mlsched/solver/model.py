"""The CP-SAT master models over a fixed set of columns.

Both pick columns that cover every op once and pair each retained
tensor's giver with its taker, minimising total latency.
:class:`ColumnModel` also places every column at a position (an exact
model of the schedules); the order-free master
(:mod:`mlsched.solver.master`) leaves the order to a check afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ortools.sat.python import cp_model

from mlsched.model import Problem
from mlsched.model.schedule import Step, retained_in
from mlsched.solver.columns import Column
from mlsched.solver.constraints import (
    add_adjacency,
    add_coverage,
    add_pairing,
    add_positions,
    add_precedence,
)
from mlsched.solver.hints import set_hint
from mlsched.solver.objective import scale_for, set_objective
from mlsched.solver.variables import (
    Selection,
    Variables,
    make_variables,
)


class MasterBase:
    """What every master model shares: columns, objective, lookups.

    Parameters
    ----------
    problem
        The problem.
    columns
        Candidate subgraphs; together they must cover every op of
        ``ops``, and hold no other op.
    ops
        The ops to cover (default: all; a window of the schedule in a
        large-neighbourhood round).
    """

    vars: Selection

    def __init__(
        self,
        problem: Problem,
        columns: Sequence[Column],
        ops: Iterable[int] | None = None,
    ) -> None:
        self.problem = problem
        self.columns = list(columns)
        self.ops = problem.scope(ops)
        self.model = cp_model.CpModel()
        self.scale = scale_for(self.columns)
        self._index = {
            (c.ops, c.retain_in, c.retain_out): i
            for i, c in enumerate(self.columns)
        }

    def _add_selection(self, v: Selection) -> None:
        """Coverage, retention pairing and the objective over ``v``."""
        add_coverage(self.model, self.columns, v, self.ops)
        add_pairing(self.model, self.columns, v)
        set_objective(self.model, self.columns, v, self.scale)

    def index_of(self, steps: Sequence[Step]) -> list[int]:
        """Column indices of a schedule's steps (each must be a column)."""
        befores = retained_in(s.retain for s in steps)
        return [
            self._index[s.ops, frozenset(before), frozenset(s.retain)]
            for s, before in zip(steps, befores)
        ]

    def chosen(self, value: Callable[[Any], int]) -> list[int]:
        """The selected column indices of an assignment."""
        return [c for c, lit in enumerate(self.vars.select) if value(lit)]

    def decode(self, value: Callable[[Any], int]) -> list[Step] | None:
        """The schedule of an assignment, or None if it has none."""
        raise NotImplementedError

    def hint(self, steps: Sequence[Step]) -> None:
        """Hint every variable with ``steps``."""
        raise NotImplementedError

    @property
    def slack(self) -> float:
        """How far below a schedule's latency its model objective may be.

        Each selected column's latency is rounded to whole units, moving
        the objective by at most half a unit per subgraph.
        """
        return 0.5 * len(self.ops) / self.scale

    def objective_of(self, steps: Sequence[Step]) -> float:
        """The model's (scaled back) objective for ``steps``."""
        total = sum(
            round(self.columns[c].latency * self.scale)
            for c in self.index_of(steps)
        )
        return total / self.scale


class ColumnModel(MasterBase):
    """The positional master: every selected column gets a position.

    Parameters
    ----------
    problem
        The problem.
    columns
        Candidate subgraphs; together they must cover every op.
    """

    vars: Variables

    def __init__(self, problem: Problem, columns: Sequence[Column]) -> None:
        super().__init__(problem, columns)
        self.vars = make_variables(self.model, problem, self.columns)
        self._add_selection(self.vars)
        add_positions(self.model, self.columns, self.vars)
        add_precedence(self.model, problem, self.vars)
        add_adjacency(self.model, problem, self.columns, self.vars)

    def hint(self, steps: Sequence[Step]) -> None:
        """Hint every variable with ``steps``."""
        set_hint(self.model, self.columns, self.vars, self.index_of(steps))

    def decode(self, value: Callable[[Any], int]) -> list[Step]:
        """The schedule of an assignment (``value`` reads a variable)."""
        chosen = self.chosen(value)
        chosen.sort(
            key=lambda c: value(self.vars.position[self.columns[c].ops[0]])
        )
        return [self.columns[c].step() for c in chosen]
