"""The order-free master: selection and retention pairing, no positions.

Without positions the model is far smaller and CP-SAT settles it in a
fraction of the positional model's time; a selection it returns is
ordered afterwards (:class:`~mlsched.solver.order.Orderer`), and one that
cannot be ordered is cut off by a no-good on the columns of the
conflict. Every cut removes only selections that are no schedule, so the
model's bound stays a bound over the columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from mlsched.model import Problem
from mlsched.model.schedule import Step
from mlsched.solver.columns import Column
from mlsched.solver.hints import hint_selection
from mlsched.solver.model import MasterBase
from mlsched.solver.order import Orderer, Ordering
from mlsched.solver.variables import make_selection


class OrderFreeModel(MasterBase):
    """Coverage, retention pairing and objective, ordered afterwards
    (the parameters are :class:`MasterBase`'s)."""

    def __init__(
        self,
        problem: Problem,
        columns: Sequence[Column],
        ops: Iterable[int] | None = None,
    ) -> None:
        super().__init__(problem, columns, ops)
        self.vars = make_selection(self.model, self.columns)
        self._add_selection(self.vars)
        self.orderer = Orderer(problem, self.columns, self.ops)
        self.cuts = 0

    def hint(self, steps: Sequence[Step]) -> None:
        """Hint every variable with ``steps``."""
        hint_selection(
            self.model, self.columns, self.vars, self.index_of(steps)
        )

    def order(self, chosen: Sequence[int]) -> Ordering:
        """An order of the chosen columns, or a conflict among them."""
        return self.orderer.order(chosen)

    def decode(self, value: Callable[[Any], int]) -> list[Step] | None:
        """The schedule of an assignment, or None if its columns cannot
        be ordered."""
        ordering = self.order(self.chosen(value))
        if ordering.order is None:
            return None
        return [self.columns[c].step() for c in ordering.order]

    def cut(self, conflict: Sequence[int]) -> None:
        """Forbid selecting every column of ``conflict`` together."""
        self.model.add_bool_or(
            [~self.vars.select[c] for c in conflict]
        ).with_name(f"nogood[{self.cuts}]")
        self.cuts += 1
