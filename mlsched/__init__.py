"""mlsched: near-optimal schedules for ML computational graphs."""

from mlsched.model import (
    Evaluation,
    InputError,
    Problem,
    Solution,
    SubgraphCost,
    evaluate,
    load_problem,
    load_solution,
    subgraph_cost,
)

__version__ = "0.1.0"

__all__ = [
    "Evaluation",
    "InputError",
    "Problem",
    "Solution",
    "SubgraphCost",
    "__version__",
    "evaluate",
    "load_problem",
    "load_solution",
    "subgraph_cost",
]
