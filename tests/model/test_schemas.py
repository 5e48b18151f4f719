"""The Problem and Solution schemas and the bundled instances."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from pydantic import ValidationError

from mlsched import Problem, evaluate, load_problem, load_solution
from mlsched.model import benchmark_names, bundled_instances


def test_example3_derived_maps() -> None:
    """Tests that the derived maps of example3 match a hand reading."""
    # op0: T0 -> T1, op1: T1 -> T2, op2: (T1, T2) -> T3, all Pointwise.
    p = load_problem("example3")
    assert (p.num_ops, p.num_tensors) == (3, 4)
    assert p.producer == {1: 0, 2: 1, 3: 2}
    # T1 is read by op1 and op2; T3 by nobody.
    assert p.consumers == ((0,), (1, 2), (2,), ())
    assert p.graph_inputs == frozenset({0})
    assert p.graph_outputs == frozenset({3})
    assert p.k_op == (0, 0, 0)  # no MatMul
    assert p.is_matmul == (False, False, False)
    assert p.topological_order == (0, 1, 2)
    assert p.sizes == (16384,) * 4
    assert p.k_native == 128


def test_example5_matmul_maps() -> None:
    """Tests that k_op and the graph boundary of example5 (two MatMuls)
    match a hand reading."""
    # op0: T0 @ T1 -> T3, op1: T3 @ T2 -> T4; K = width of the LHS = 128.
    p = load_problem("example5")
    assert p.k_op == (128, 128)
    assert p.is_matmul == (True, True)
    assert p.graph_inputs == frozenset({0, 1, 2})
    assert p.graph_outputs == frozenset({4})
    assert p.consumers == ((0,), (0,), (1,), (1,), ())


def test_consumers_count_an_op_once() -> None:
    """Tests that an op reading a tensor twice (x @ x) is listed once
    among its consumers, and that K is the LHS width."""
    # T0 is 4x4; op0 = T0 @ T0 -> T1 (4x4); T2 (6x9) is used by nobody.
    p = Problem.model_validate(
        {
            "widths": [4, 4, 9],
            "heights": [4, 4, 6],
            "inputs": [[0, 0]],
            "outputs": [[1]],
            "base_costs": [10],
            "op_types": ["MatMul"],
            "fast_memory_capacity": 100,
            "slow_memory_bandwidth": 1,
            "native_granularity": [4, 8],
        }
    )
    assert p.consumers == ((0,), (), ())
    assert p.k_op == (4,)
    # T2 is neither produced nor consumed: in neither boundary set.
    assert p.graph_inputs == frozenset({0})
    assert p.graph_outputs == frozenset({1})
    assert p.k_native == 4  # the smaller of [4, 8]


def test_topological_order_prefers_smallest_ready_op() -> None:
    """Tests that topological_order breaks ties by smallest ready id even
    when ids are not in dependency order."""
    # op0 reads T1 which op2 writes; op1 reads T0 (a graph input) and
    # writes T2; op2 reads T2 and writes T1. Ready first: op1; then op2;
    # then op0.
    p = Problem.model_validate(
        {
            "widths": [8, 8, 8, 8],
            "heights": [8, 8, 8, 8],
            "inputs": [[1], [0], [2]],
            "outputs": [[3], [2], [1]],
            "base_costs": [1, 1, 1],
            "op_types": ["Pointwise"] * 3,
            "fast_memory_capacity": 1000,
            "slow_memory_bandwidth": 1,
            "native_granularity": [8, 8],
        }
    )
    assert p.topological_order == (1, 2, 0)
    assert p.producer == {3: 0, 2: 1, 1: 2}


@pytest.mark.parametrize("name", ["mlsys-2026-5", "mlsys-2026-13"])
def test_benchmark_derived_maps_are_consistent(name: str) -> None:
    """Tests that the derived maps of a bundled benchmark equal the
    definitions recomputed here from the raw lists (SPEC §1)."""
    p = load_problem(name)
    produced = {t: o for o, outs in enumerate(p.outputs) for t in outs}
    read = {t for ins in p.inputs for t in ins}
    assert p.producer == produced
    for t in range(p.num_tensors):
        readers = [o for o, ins in enumerate(p.inputs) if t in ins]
        assert list(p.consumers[t]) == readers
    assert p.graph_inputs == frozenset(read - set(produced))
    assert p.graph_outputs == frozenset(set(produced) - read)
    assert p.graph_inputs and p.graph_outputs
    for o, typ in enumerate(p.op_types):
        lhs_width = p.widths[p.inputs[o][0]]
        assert p.k_op[o] == (lhs_width if typ == "MatMul" else 0)
    order = p.topological_order
    assert sorted(order) == list(range(p.num_ops))
    position = {o: i for i, o in enumerate(order)}
    for o, ins in enumerate(p.inputs):
        for t in ins:
            if t in produced:
                assert position[produced[t]] < position[o]


def test_problem_is_frozen() -> None:
    """Tests that a loaded problem rejects attribute assignment and that
    its lists are immutable tuples."""
    p = load_problem("example1")
    with pytest.raises(ValidationError, match="frozen"):
        p.fast_memory_capacity = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.widths[0] = 1  # type: ignore[index]
    assert p.fast_memory_capacity == 35000
    assert p.widths == (128, 128, 128)


def test_solution_is_frozen() -> None:
    """Tests that a loaded solution rejects attribute assignment and that
    its nested lists are immutable tuples."""
    sol = load_solution(
        {
            "subgraphs": [[0, 1]],
            "granularities": [[128, 128, 1]],
            "tensors_to_retain": [[]],
            "traversal_orders": [None],
            "subgraph_latencies": [3276.8],
        }
    )
    with pytest.raises(ValidationError, match="frozen"):
        sol.subgraphs = ((0,),)  # type: ignore[misc]
    with pytest.raises(TypeError):
        sol.subgraphs[0][0] = 1  # type: ignore[index]
    assert sol.subgraphs == ((0, 1),)


def _first_valid_with_traversal(
    corpus: tuple[dict[str, Any], ...],
) -> dict[str, Any]:
    """A valid corpus solution with both null and explicit orders, some
    retention and fractional latencies (exercises every field)."""
    for case in corpus:
        sol: dict[str, Any] = case["solution"]
        orders = sol.get("traversal_orders", [])
        if (
            case["contest"]["valid"]
            and None in orders
            and any(o is not None for o in orders)
            and any(sol["tensors_to_retain"])
        ):
            return sol
    raise AssertionError("no such corpus case")


def test_solution_round_trip_is_exact(
    corpus: tuple[dict[str, Any], ...],
) -> None:
    """Tests that to_dict() of a loaded corpus solution equals the
    original JSON exactly: keys, order of keys, values and value types."""
    original = _first_valid_with_traversal(corpus)
    sol = load_solution(original)
    assert sol.to_dict() == original
    assert list(sol.to_dict()) == list(original)
    # Same JSON text means same types too (3276.8 vs 3276 vs "3276.8").
    assert json.loads(sol.to_json()) == original
    assert sol.to_json() == json.dumps(original)


def test_every_corpus_solution_round_trips(
    corpus: tuple[dict[str, Any], ...],
) -> None:
    """Tests that every non-empty corpus solution survives
    load -> to_dict unchanged."""
    changed = [
        c["id"]
        for c in corpus
        if c["solution"] != {}
        and load_solution(c["solution"]).to_dict() != c["solution"]
    ]
    assert changed == []


def test_integer_latencies_load_as_floats() -> None:
    """Tests that JSON integer latencies are accepted and become floats
    (JSON does not distinguish 3000 from 3000.0)."""
    sol = load_solution(
        {
            "subgraphs": [[0]],
            "granularities": [[128, 128, 1]],
            "tensors_to_retain": [[]],
            "traversal_orders": [None],
            "subgraph_latencies": [3000],
        }
    )
    assert sol.subgraph_latencies == (3000.0,)
    assert isinstance(sol.subgraph_latencies[0], float)


def test_empty_object_is_an_empty_solution() -> None:
    """Tests that {} loads as a solution with no subgraphs, which
    evaluates invalid with op_not_covered in both profiles."""
    sol = load_solution({})
    assert sol.num_subgraphs == 0
    assert sol.to_dict() == {
        "subgraphs": [],
        "granularities": [],
        "tensors_to_retain": [],
        "traversal_orders": [],
        "subgraph_latencies": [],
    }
    for rules in ("contest", "strict"):
        ev = evaluate("example1", {}, rules=rules)
        assert not ev.valid
        assert ev.category == "op_not_covered"
        assert "op 0" in ev.message


@pytest.mark.parametrize(
    ("source", "num_ops"),
    [
        ("mlsys-2026-5", None),  # a benchmark by its bundled name
        ("example3", 3),  # an example by name
        ("example3.json", 3),  # the name with its file extension
    ],
)
def test_bundled_names_load(source: str, num_ops: int | None) -> None:
    """Tests that bundled names (with or without .json) load the same
    problem as the packaged file."""
    p = load_problem(source)
    name = source.removesuffix(".json")
    rel = bundled_instances()[name]
    text = (resources.files("mlsched") / "data" / rel).read_text()
    assert p == Problem.model_validate(json.loads(text))
    if num_ops is not None:
        assert p.num_ops == num_ops


def test_bundled_instance_catalogue() -> None:
    """Tests that the 24 benchmarks and 6 examples are bundled and that
    benchmark_names() lists the benchmarks in numeric order."""
    names = benchmark_names()
    assert names == [f"mlsys-2026-{i}" for i in range(1, 25)]
    examples = {n for n in bundled_instances() if n.startswith("example")}
    assert examples == {
        "example1",
        "example2",
        "example3",
        "example4",
        "example5",
        "example_problem",
    }


def test_problem_path_and_dict_load_equal(tmp_path: Any) -> None:
    """Tests that a problem loads equally from a path, a dict and an
    existing Problem (returned as is, as is a Solution)."""
    p = load_problem("example4")
    data = json.loads(p.model_dump_json())
    path = tmp_path / "ex4.json"
    path.write_text(json.dumps(data))
    assert load_problem(path) == p
    assert load_problem(data) == p
    assert load_problem(p) is p
    empty = load_solution({})
    assert load_solution(empty) is empty
