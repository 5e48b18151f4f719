"""The list scheduler: dependency analysis, granularity choice, fusion."""

from mlsched.heuristics.dependency import DependencyAnalyzer
from mlsched.heuristics.granularity import Choice, GranularityOptimizer
from mlsched.heuristics.scheduler import (
    Infeasible,
    ListScheduler,
    naive_schedule,
)

__all__ = [
    "Choice",
    "DependencyAnalyzer",
    "GranularityOptimizer",
    "Infeasible",
    "ListScheduler",
    "naive_schedule",
]
