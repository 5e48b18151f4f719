"""The CP-SAT column model: enumeration, master model, anytime solve."""

from mlsched.solver.columns import Column, ColumnGenerator
from mlsched.solver.model import ColumnModel, solve_cpsat
from mlsched.solver.status import CPSAT_STATUS, to_status

__all__ = [
    "CPSAT_STATUS",
    "Column",
    "ColumnGenerator",
    "ColumnModel",
    "solve_cpsat",
    "to_status",
]
