"""mlsched: near-optimal schedules for ML computational graphs."""

import time as _time

# When the package was first imported: the command line counts its time
# budget from here, the closest point to process start it can see.
_STARTED = _time.perf_counter()

from mlsched.generator import generate
from mlsched.importer import from_onnx
from mlsched.model import (
    Evaluation,
    InputError,
    Problem,
    Solution,
    SubgraphCost,
    evaluate,
    load_problem,
    load_solution,
    lower_bound,
    subgraph_cost,
)
from mlsched.model.result import Result, SolveStatus
from mlsched.solve import solve

__version__ = "0.1.0"

__all__ = [
    "Evaluation",
    "InputError",
    "Problem",
    "Result",
    "Solution",
    "SolveStatus",
    "SubgraphCost",
    "__version__",
    "evaluate",
    "from_onnx",
    "generate",
    "load_problem",
    "load_solution",
    "lower_bound",
    "solve",
    "subgraph_cost",
]
