"""The CP-SAT column model: enumeration, master model, anytime solve."""

from mlsched.solver.columns import (
    Column,
    ColumnGenerator,
    refine,
    schedule_columns,
)
from mlsched.solver.driver import solve_cpsat
from mlsched.solver.model import ColumnModel
from mlsched.solver.status import CPSAT_STATUS, to_status

__all__ = [
    "CPSAT_STATUS",
    "Column",
    "ColumnGenerator",
    "ColumnModel",
    "refine",
    "schedule_columns",
    "solve_cpsat",
    "to_status",
]
