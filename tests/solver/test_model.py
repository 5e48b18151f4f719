"""ColumnModel: the CP-SAT master model over a fixed set of columns.

The model picks columns that cover every op once, orders them, and links
a column retaining a tensor to the column right after it. Its objective
is the sum of the chosen columns' latencies, each rounded to an integer
number of units (``cm.scale`` units per latency unit), so a schedule of n
subgraphs has a model objective within ``0.5 n / cm.scale`` of its exact
latency.

The strongest check here is exhaustive: on tiny instances every schedule
built from the columns is enumerated in Python such that (a) each
column's P is exactly what the column before it retains and the last one
retains nothing (the contexts the columns were costed in) and (b)
producers run no later than their consumers, and kept when (c) the
evaluator accepts it. The
set of those schedules must equal the set of CP-SAT's solutions, and the
two optima must agree.
"""

from __future__ import annotations

import math

import pytest
from ortools.sat.python import cp_model
from solver_setup import (
    SMALL,
    TINY,
    enumerated,
    exact_latency,
    heuristic_columns,
    shares_enumerated,
    slack,
    solver_with,
)

from mlsched import Problem, load_problem
from mlsched.model.result import SolveStatus
from mlsched.model.schedule import Step
from mlsched.solver import (
    CPSAT_STATUS,
    ColumnModel,
    to_status,
)

RULES = ("strict", "contest")


@pytest.mark.parametrize("rules", RULES)
@pytest.mark.parametrize("name", SMALL)
def test_hint_is_complete_and_feasible(name: str, rules: str) -> None:
    """Tests that the heuristic's hint sets every variable once and that
    CP-SAT, with every variable fixed to its hint, accepts it and decodes
    it back to the heuristic's schedule and latency."""
    problem = load_problem(name)
    steps, columns = heuristic_columns(problem, rules)
    cm = ColumnModel(problem, columns)
    cm.hint(steps)
    cm.hint(steps)  # a second hint replaces the first
    proto = cm.model.proto
    hinted = list(proto.solution_hint.vars)
    assert len(hinted) == len(set(hinted))
    assert sorted(hinted) == list(range(len(proto.variables)))
    solver = solver_with(fix_variables_to_their_hinted_value=True)
    status = to_status(solver.solve(cm.model))
    assert status in (SolveStatus.COLUMN_OPTIMAL, SolveStatus.FEASIBLE)
    decoded = cm.decode(solver.value)
    assert [s.ops for s in decoded] == [s.ops for s in steps]
    heuristic = exact_latency(problem, steps, rules)
    latency = exact_latency(problem, decoded, rules)
    assert math.isclose(latency, heuristic, rel_tol=1e-9)
    model = solver.objective_value / cm.scale
    assert abs(model - heuristic) <= slack(cm, len(steps), heuristic)
    assert math.isclose(cm.objective_of(steps), model, rel_tol=1e-12)


@pytest.mark.parametrize("rules", RULES)
@pytest.mark.parametrize(
    "name",
    [
        "mlsys-2026-2",  # fine tiles cut two region columns by 25%
        "mlsys-2026-7",  # 9-16 columns improve
        "mlsys-2026-8",  # 20 ops, many retention contexts
    ],
)
def test_hint_survives_refinement(name: str, rules: str) -> None:
    """Tests that after the fine-grain pass the heuristic's hint is still
    complete and feasible, and no worse than the heuristic."""
    problem = load_problem(name)
    steps, columns = heuristic_columns(problem, rules, refined=True)
    cm = ColumnModel(problem, columns)
    cm.hint(steps)
    hinted = list(cm.model.proto.solution_hint.vars)
    assert sorted(hinted) == list(range(len(cm.model.proto.variables)))
    solver = solver_with(fix_variables_to_their_hinted_value=True)
    status = to_status(solver.solve(cm.model))
    assert status in (SolveStatus.COLUMN_OPTIMAL, SolveStatus.FEASIBLE)
    decoded = cm.decode(solver.value)
    heuristic = exact_latency(problem, steps, rules)
    latency = exact_latency(problem, decoded, rules)
    assert latency <= heuristic * (1 + 1e-12)
    model = solver.objective_value / cm.scale
    assert abs(model - latency) <= slack(cm, len(decoded), latency)


@pytest.mark.parametrize(
    ("name", "rules"),
    [
        ("example5", "strict"),  # CP-SAT beats the SPEC's 6915.2 split
        ("mlsys-2026-4", "contest"),  # retention contexts
        ("mlsys-2026-6", "strict"),  # 17 ops
        ("mlsys-2026-8", "strict"),  # CP-SAT improves on the heuristic
        ("mlsys-2026-8", "contest"),  # same in the contest profile
    ],
)
def test_objective_matches_evaluate(name: str, rules: str) -> None:
    """Tests that for a CP-SAT solution found without a hint the model
    objective, ``objective_of`` of the decoded schedule and the
    evaluator's latency agree (up to the rounding slack)."""
    problem = load_problem(name)
    _, columns = heuristic_columns(problem, rules, refined=True)
    cm = ColumnModel(problem, columns)
    solver = solver_with(max_time_in_seconds=3.0, num_workers=2)
    status = to_status(solver.solve(cm.model))
    assert status in (SolveStatus.COLUMN_OPTIMAL, SolveStatus.FEASIBLE)
    decoded = cm.decode(solver.value)
    latency = exact_latency(problem, decoded, rules)
    model = solver.objective_value / cm.scale
    assert math.isclose(cm.objective_of(decoded), model, rel_tol=1e-12)
    assert abs(model - latency) <= slack(cm, len(decoded), latency)


class _Collector(cp_model.CpSolverSolutionCallback):
    """Records each solution as column indices in execution order."""

    def __init__(self, cm: ColumnModel) -> None:
        super().__init__()
        self.cm = cm
        self.found: set[tuple[int, ...]] = set()

    def on_solution_callback(self) -> None:
        v = self.cm.vars
        chosen = [c for c, lit in enumerate(v.select) if self.value(lit)]
        chosen.sort(
            key=lambda c: self.value(v.position[self.cm.columns[c].ops[0]])
        )
        self.found.add(tuple(chosen))


@shares_enumerated
@pytest.mark.parametrize("rules", RULES)
@pytest.mark.parametrize(
    "problem", [p for _, p in TINY], ids=[n for n, _ in TINY]
)
def test_model_solutions_are_exactly_the_valid_schedules(
    problem: Problem, rules: str
) -> None:
    """Tests, by exhaustive enumeration on tiny instances, that CP-SAT's
    feasible set equals the valid, consistently chained column schedules
    (neither a valid one excluded nor an invalid one admitted), and that
    the optimum of the model is the cheapest of them."""
    columns, valid = enumerated(problem, rules)
    assert valid, "the single-op columns always give a valid schedule"

    cm = ColumnModel(problem, columns)
    cm.model.clear_objective()  # type: ignore[no-untyped-call]
    solver = solver_with(enumerate_all_solutions=True)
    collector = _Collector(cm)
    status = to_status(solver.solve(cm.model, collector))
    assert status is SolveStatus.COLUMN_OPTIMAL  # the enumeration is complete
    assert collector.found == set(valid)

    cm = ColumnModel(problem, columns)
    solver = solver_with()
    status = to_status(solver.solve(cm.model))
    assert status is SolveStatus.COLUMN_OPTIMAL
    decoded = cm.decode(solver.value)
    latency = exact_latency(problem, decoded, rules)
    best = min(valid.values())
    assert abs(latency - best) <= 2 * slack(cm, problem.num_ops, best)


def test_example3_model_optimum() -> None:
    """Tests the model optimum of SPEC example 3 (ops 0: T0 -> T1, 1: T1
    -> T2, 2: T1, T2 -> T3; Pointwise, 128x128, base cost 1500, bandwidth
    10, capacity 50000).

    Each op pays 1500 per tile in compute, so any schedule costs at least
    4500; fusing all three at [128,128,1] loads T0 and stores T3 (3276.8
    of transfer) in one tile: max(4500, 3276.8) = 4500. The hint-free
    model finds a schedule of exactly 4500, in one subgraph.
    """
    problem = load_problem("example3")
    _, columns = heuristic_columns(problem, "strict")
    cm = ColumnModel(problem, columns)
    solver = solver_with()
    assert to_status(solver.solve(cm.model)) is SolveStatus.COLUMN_OPTIMAL
    decoded = cm.decode(solver.value)
    assert [s.ops for s in decoded] == [(0, 1, 2)]
    assert math.isclose(
        exact_latency(problem, decoded, "strict"), 4500.0, rel_tol=1e-12
    )


def test_index_of_rejects_unknown_step() -> None:
    """Tests that hinting a step that is no column raises KeyError instead
    of hinting some other column: ops (0, 1) of SPEC example 3 leave T1's
    reader op 2 outside, so that region is not closed and never built."""
    problem = load_problem("example3")
    steps, columns = heuristic_columns(problem, "strict")
    cm = ColumnModel(problem, columns)
    with pytest.raises(KeyError):
        cm.hint([Step((0, 1), steps[0].grain), Step((2,), steps[0].grain)])


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (cp_model.OPTIMAL, SolveStatus.COLUMN_OPTIMAL),  # over the columns
        (cp_model.FEASIBLE, SolveStatus.FEASIBLE),  # solution, no proof
        (cp_model.INFEASIBLE, SolveStatus.INFEASIBLE),  # proven none
        (cp_model.UNKNOWN, SolveStatus.UNKNOWN),  # limit hit, nothing
        (cp_model.MODEL_INVALID, SolveStatus.MODEL_INVALID),  # bad model
    ],
)
def test_status_mapping(
    code: cp_model.CpSolverStatus, expected: SolveStatus
) -> None:
    """Tests that each CP-SAT status maps to the SolveStatus of the same
    name, except OPTIMAL: CP-SAT proves optimality over the model's
    columns only."""
    assert to_status(code) is expected
    assert expected.name.removeprefix("COLUMN_") == code.name


def test_status_table_is_complete() -> None:
    """Tests that CPSAT_STATUS covers every CP-SAT status code."""
    assert set(CPSAT_STATUS) == set(
        cp_model.CpSolverStatus.__members__.values()
    )
