"""Mapping CP-SAT statuses to :class:`SolveStatus`."""

from __future__ import annotations

from typing import Any

from ortools.sat.python import cp_model

from mlsched.model.result import SolveStatus

#: Every CP-SAT status and what it means for a column model whose hint is
#: a feasible schedule. CP-SAT's OPTIMAL is optimal over the model's
#: columns only.
CPSAT_STATUS: dict[Any, SolveStatus] = {
    cp_model.OPTIMAL: SolveStatus.COLUMN_OPTIMAL,
    cp_model.FEASIBLE: SolveStatus.FEASIBLE,
    cp_model.INFEASIBLE: SolveStatus.INFEASIBLE,
    cp_model.UNKNOWN: SolveStatus.UNKNOWN,
    cp_model.MODEL_INVALID: SolveStatus.MODEL_INVALID,
}


def to_status(code: Any) -> SolveStatus:
    """The :class:`SolveStatus` of a CP-SAT status code."""
    return CPSAT_STATUS[code]
