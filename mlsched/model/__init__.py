"""Problem and solution schemas, the exact evaluator and the cost oracle."""

from mlsched.model.bounds import lower_bound
from mlsched.model.cost import (
    TRAVERSALS,
    SubgraphCost,
    reference_cost,
    subgraph_cost,
    traversal_permutation,
    view_cost,
)
from mlsched.model.evaluate import (
    Evaluation,
    SubgraphReport,
    evaluate,
    exact_objective,
    subgraph_violation,
)
from mlsched.model.io import (
    InputError,
    benchmark_names,
    bundled_instances,
    load_problem,
    load_solution,
    write_json_atomic,
)
from mlsched.model.problem import Problem
from mlsched.model.solution import Solution
from mlsched.model.subgraph import Grain, Role, SubgraphView

__all__ = [
    "TRAVERSALS",
    "Evaluation",
    "Grain",
    "InputError",
    "Problem",
    "Role",
    "Solution",
    "SubgraphCost",
    "SubgraphReport",
    "SubgraphView",
    "benchmark_names",
    "bundled_instances",
    "evaluate",
    "exact_objective",
    "load_problem",
    "load_solution",
    "lower_bound",
    "reference_cost",
    "subgraph_cost",
    "subgraph_violation",
    "traversal_permutation",
    "view_cost",
    "write_json_atomic",
]
