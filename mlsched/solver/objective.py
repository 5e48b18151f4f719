"""The objective of the column model: total latency."""

from __future__ import annotations

from ortools.sat.python import cp_model

from mlsched.solver.columns import Column
from mlsched.solver.variables import Selection

# Integer objective resolution: the largest column latency maps to about
# this many units, fine enough that rounding never reorders schedules
# that differ by more than a few millionths.
RESOLUTION = 10**8


def scale_for(columns: list[Column]) -> float:
    """Units per latency unit for the integer objective."""
    largest = max((col.latency for col in columns), default=1.0)
    return RESOLUTION / max(largest, 1e-9)


def set_objective(
    model: cp_model.CpModel,
    columns: list[Column],
    v: Selection,
    scale: float,
) -> None:
    """Minimise the sum of the selected columns' scaled latencies."""
    model.minimize(
        sum(
            round(col.latency * scale) * v.select[c]
            for c, col in enumerate(columns)
        )
    )
