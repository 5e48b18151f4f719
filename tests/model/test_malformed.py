"""Malformed problems and solutions are rejected cleanly (SPEC §1-§2).

Every case is a file on disk. Loading it raises :class:`mlsched.InputError`
with a one-line message that names the file and the offending field, op or
tensor; ``mlsched evaluate`` on it exits 2 with exactly one stderr line
``mlsched: error: ...`` and never prints a traceback.

The base problem is example5 (op 0: T0 @ T1 -> T3, op 1: T3 @ T2 -> T4,
five 128x128 tensors); the base solution is a valid schedule for it.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run_cli, run_main

from mlsched import InputError, evaluate, load_problem, load_solution

BASE_PROBLEM: dict[str, Any] = {
    "widths": [128, 128, 128, 128, 128],
    "heights": [128, 128, 128, 128, 128],
    "inputs": [[0, 1], [3, 2]],
    "outputs": [[3], [4]],
    "base_costs": [2000, 2000],
    "op_types": ["MatMul", "MatMul"],
    "fast_memory_capacity": 45000,
    "slow_memory_bandwidth": 10,
    "native_granularity": [128, 128],
}
BASE_SOLUTION: dict[str, Any] = {
    "subgraphs": [[0], [1]],
    "granularities": [[128, 128, 32], [128, 128, 32]],
    "tensors_to_retain": [[], []],
    "traversal_orders": [None, None],
    "subgraph_latencies": [4915.2, 4915.2],
}
DROP = object()  # marks a key to delete


def edit(base: dict[str, Any], **changes: Any) -> str:
    """The JSON text of ``base`` with some keys replaced or dropped."""
    data = copy.deepcopy(base)
    for key, value in changes.items():
        if value is DROP:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data)


def problem(**changes: Any) -> str:
    """JSON text of the base problem with ``changes``."""
    return edit(BASE_PROBLEM, **changes)


def solution(**changes: Any) -> str:
    """JSON text of the base solution with ``changes``."""
    return edit(BASE_SOLUTION, **changes)


def problem_text(field: str, literal: str) -> str:
    """The base problem with one top-level value as a raw JSON literal."""
    marker = '"__LITERAL__"'
    return problem(**{field: "__LITERAL__"}).replace(marker, literal)


def solution_text(field: str, literal: str) -> str:
    """The base solution with one top-level value as a raw JSON literal."""
    marker = '"__LITERAL__"'
    return solution(**{field: "__LITERAL__"}).replace(marker, literal)


# (kind, file content, substring the error message must contain)
CASES = [
    pytest.param(
        "problem",
        '{"widths": [128, 128,',
        "invalid JSON",
        id="problem-truncated-json",  # JSON text cut off mid-list
    ),
    pytest.param(
        "problem",
        "",
        "invalid JSON",
        id="problem-empty-file",  # zero bytes is not JSON
    ),
    pytest.param(
        "problem",
        b'\xff\xfe{"widths": []}',
        "cannot read",
        id="problem-not-utf8",  # undecodable bytes
    ),
    pytest.param(
        "problem",
        "[1, 2, 3]",
        "expected a JSON object",
        id="problem-top-level-list",  # an array, not an object
    ),
    pytest.param(
        "problem",
        problem(widths=DROP),
        "widths: Field required",
        id="problem-missing-widths",  # a required field is absent
    ),
    pytest.param(
        "problem",
        problem(comment="hi"),
        "comment",
        id="problem-extra-field",  # unknown keys are not ignored
    ),
    pytest.param(
        "problem",
        problem(fast_memory_capacity="45000"),
        "fast_memory_capacity",
        id="problem-capacity-string",  # "45000" is not coerced to 45000
    ),
    pytest.param(
        "problem",
        problem(fast_memory_capacity=True),
        "fast_memory_capacity",
        id="problem-capacity-bool",  # true is not the integer 1
    ),
    pytest.param(
        "problem",
        problem(fast_memory_capacity=45000.5),
        "fast_memory_capacity",
        id="problem-capacity-float",  # no silent truncation to 45000
    ),
    pytest.param(
        "problem",
        problem(widths=[128.0, 128, 128, 128, 128]),
        "widths[0]",
        id="problem-width-float",  # sizes are integers, even 128.0
    ),
    pytest.param(
        "problem",
        problem(base_costs=[True, 2000]),
        "base_costs[0]",
        id="problem-base-cost-bool",  # bools are not numbers here
    ),
    pytest.param(
        "problem",
        problem(op_types=["matmul", "MatMul"]),
        "op_types[0]",
        id="problem-op-type-lowercase",  # op types are case-sensitive
    ),
    pytest.param(
        "problem",
        problem(inputs=[[0, 1], [3, 9]]),
        "op 1: tensor id 9",
        id="problem-tensor-id-too-large",  # only tensors 0..4 exist
    ),
    pytest.param(
        "problem",
        problem(inputs=[[0, 1], [3, -1]]),
        "op 1: tensor id -1",
        id="problem-tensor-id-negative",  # no Python-style -1 indexing
    ),
    pytest.param(
        "problem",
        problem(inputs=[[4, 1], [3, 2]]),
        "op 0: lies on a dependency cycle",
        id="problem-cycle",  # op 0 reads T4, op 1 reads op 0's T3
    ),
    pytest.param(
        "problem",
        problem(outputs=[[3], [3]]),
        "tensor 3: produced by both op 0 and op 1",
        id="problem-tensor-produced-twice",  # two producers of T3
    ),
    pytest.param(
        "problem",
        problem(inputs=[[0], [3, 2]]),
        "op 0: MatMul needs exactly 2 inputs, has 1",
        id="problem-matmul-one-input",  # a MatMul needs LHS and RHS
    ),
    pytest.param(
        "problem",
        problem(inputs=[[0, 1, 2], [3, 2]]),
        "op 0: MatMul needs exactly 2 inputs, has 3",
        id="problem-matmul-three-inputs",  # a third operand
    ),
    pytest.param(
        "problem",
        problem(widths=[64, 128, 128, 128, 128]),
        "op 0: MatMul LHS tensor 0 width 64",
        id="problem-matmul-k-mismatch",  # LHS is 128x64, RHS 128x128
    ),
    pytest.param(
        "problem",
        problem(heights=[128, 128, 128, 128, 64]),
        "op 1: MatMul output tensor 4",
        id="problem-matmul-output-shape",  # T4 should be 128x128
    ),
    pytest.param(
        "problem",
        problem(heights=[128, -128, 128, 128, 128]),
        "tensor 1: height -128",
        id="problem-negative-height",  # sizes must be positive
    ),
    pytest.param(
        "problem",
        problem(widths=[128, 128, 0, 128, 128]),
        "tensor 2: width 0",
        id="problem-zero-width",  # an empty matrix
    ),
    pytest.param(
        "problem",
        problem(widths=[10**30, 128, 128, 128, 128]),
        "tensor 0: width",
        id="problem-huge-width",  # 10**30 columns cannot be real
    ),
    pytest.param(
        "problem",
        problem(heights=[128, 128, 128, 128]),
        "heights has 4 entries but widths has 5",
        id="problem-length-mismatch",  # heights one short
    ),
    pytest.param(
        "problem",
        problem(fast_memory_capacity=0),
        "fast_memory_capacity 0 is not positive",
        id="problem-zero-capacity",  # nothing would fit
    ),
    pytest.param(
        "problem",
        problem(fast_memory_capacity=10**30),
        "fast_memory_capacity",
        id="problem-huge-capacity",  # beyond any integer model
    ),
    pytest.param(
        "problem",
        problem(slow_memory_bandwidth=-10),
        "slow_memory_bandwidth -10.0 is not positive",
        id="problem-negative-bandwidth",  # transfers would gain time
    ),
    pytest.param(
        "problem",
        problem_text("slow_memory_bandwidth", "NaN"),
        "slow_memory_bandwidth",
        id="problem-nan-bandwidth",  # Python's json accepts NaN
    ),
    pytest.param(
        "problem",
        problem_text("base_costs", "[Infinity, 2000]"),
        "base_costs[0]",
        id="problem-infinite-base-cost",  # Python's json accepts Infinity
    ),
    pytest.param(
        "problem",
        problem_text("slow_memory_bandwidth", "1e400"),
        "slow_memory_bandwidth",
        id="problem-float-overflow",  # 1e400 parses as inf
    ),
    pytest.param(
        "problem",
        problem(slow_memory_bandwidth=10**400),
        "slow_memory_bandwidth",
        id="problem-bandwidth-int-overflow",  # exact int beyond float range
    ),
    pytest.param(
        "problem",
        problem_text("fast_memory_capacity", "1" + "0" * 5000),
        "fast_memory_capacity",
        id="problem-5001-digit-int",  # beyond Python's int parse limit
    ),
    pytest.param(
        "problem",
        problem(widths=[]),
        "widths",
        id="problem-empty-widths",  # no tensors at all
    ),
    pytest.param(
        "problem",
        problem(inputs=[], outputs=[], base_costs=[], op_types=[]),
        "inputs",
        id="problem-no-ops",  # an empty graph
    ),
    pytest.param(
        "problem",
        problem(base_costs=[0, 2000]),
        "op 0: base cost 0",
        id="problem-zero-base-cost",  # free compute
    ),
    pytest.param(
        "problem",
        problem(inputs=[[0, 1], [4, 2]]),
        "op 1: reads its own output 4",
        id="problem-self-loop",  # op 1 reads T4, which it writes
    ),
    pytest.param(
        "problem",
        problem(native_granularity=[128, 128, 128]),
        "native_granularity",
        id="problem-native-three-entries",  # [w, h] only
    ),
    pytest.param(
        "problem",
        problem(outputs=5),
        "outputs",
        id="problem-outputs-not-list",  # a number where a list belongs
    ),
    pytest.param(
        "problem",
        "[" * 100_000 + "]" * 100_000,
        "nested too deeply",
        id="problem-deep-nesting",  # would overflow the parser's stack
    ),
    pytest.param(
        "solution",
        '{"subgraphs": [[0], [1]], ',
        "invalid JSON",
        id="solution-truncated-json",  # JSON text cut off
    ),
    pytest.param(
        "solution",
        "[[0], [1]]",
        "expected a JSON object",
        id="solution-top-level-list",  # just the subgraph list
    ),
    pytest.param(
        "solution",
        solution(subgraph_latencies=DROP),
        "subgraph_latencies: Field required",
        id="solution-missing-latencies",  # a contest field is absent
    ),
    pytest.param(
        "solution",
        solution(notes="fast"),
        "notes",
        id="solution-extra-field",  # unknown keys are not ignored
    ),
    pytest.param(
        "solution",
        solution(subgraphs=5),
        "subgraphs",
        id="solution-subgraphs-not-list",  # a number, not a list
    ),
    pytest.param(
        "solution",
        solution(granularities=[128, 128, 32]),
        "granularities[0]",
        id="solution-flat-granularities",  # one [w,h,k], not a list
    ),
    pytest.param(
        "solution",
        solution(subgraphs=[["0"], [1]]),
        "subgraphs[0][0]",
        id="solution-string-op-id",  # "0" is not op 0
    ),
    pytest.param(
        "solution",
        solution(subgraphs=[[0.0], [1]]),
        "subgraphs[0][0]",
        id="solution-float-op-id",  # 0.0 is not op 0
    ),
    pytest.param(
        "solution",
        solution(granularities=[[True, 128, 32], [128, 128, 32]]),
        "granularities[0][0]",
        id="solution-bool-granularity",  # true is not a width
    ),
    pytest.param(
        "solution",
        solution(traversal_orders=["raster", None]),
        "traversal_orders[0]",
        id="solution-traversal-name",  # names are not contest JSON
    ),
    pytest.param(
        "solution",
        solution(tensors_to_retain=[None, []]),
        "tensors_to_retain[0]",
        id="solution-retain-null",  # null is only allowed for orders
    ),
    pytest.param(
        "solution",
        solution(subgraph_latencies=["4915.2", 4915.2]),
        "subgraph_latencies[0]",
        id="solution-latency-string",  # a quoted number
    ),
    pytest.param(
        "solution",
        solution_text("subgraph_latencies", "[NaN, 4915.2]"),
        "subgraph_latencies[0]",
        id="solution-nan-latency",  # Python's json accepts NaN
    ),
    pytest.param(
        "solution",
        solution_text("subgraph_latencies", "[4915.2, -Infinity]"),
        "subgraph_latencies[1]",
        id="solution-infinite-latency",  # Python's json accepts -Infinity
    ),
    pytest.param(
        "solution",
        solution_text("subgraphs", "[[1" + "0" * 5000 + "], [1]]"),
        "subgraphs[0][0]",
        id="solution-5001-digit-op-id",  # beyond Python's int parse limit
    ),
    pytest.param(
        "solution",
        solution(subgraph_latencies=[10**400, 4915.2]),
        "subgraph_latencies[0]",
        id="solution-latency-int-overflow",  # exact int beyond float range
    ),
]


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def _files(
    tmp_path: Path, kind: str, content: str | bytes
) -> tuple[Path, Path, Path]:
    """(problem file, solution file, the malformed one of the two)."""
    good_problem = json.dumps(BASE_PROBLEM)
    good_solution = json.dumps(BASE_SOLUTION)
    prob = _write(
        tmp_path, "p.json", content if kind == "problem" else good_problem
    )
    sol = _write(
        tmp_path, "s.json", content if kind == "solution" else good_solution
    )
    return prob, sol, prob if kind == "problem" else sol


def test_base_inputs_are_valid(tmp_path: Path) -> None:
    """Tests that the unedited base problem and solution files load and
    evaluate valid with exact claimed latencies, so every rejection below
    is due to the edit."""
    prob, sol, _ = _files(tmp_path, "problem", problem())
    ev = evaluate(load_problem(prob), load_solution(sol))
    assert ev.valid, ev.message
    assert ev.warnings == ()


@pytest.mark.parametrize(("kind", "content", "needle"), CASES)
def test_load_rejects_with_one_line_message(
    tmp_path: Path, kind: str, content: str | bytes, needle: str
) -> None:
    """Tests that loading the malformed file raises InputError with one
    line naming the file and the offending thing."""
    _, _, bad = _files(tmp_path, kind, content)
    loader = load_problem if kind == "problem" else load_solution
    with pytest.raises(InputError) as info:
        loader(bad)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{kind} {bad}: ")
    assert needle in message.replace(str(bad), "<file>")


#: Cases also run in a real ``python -m mlsched`` process: the exit code
#: and stderr there, not only those of ``main`` (bad text, bad bytes, a
#: parser-stack attack, a bad solution).
IN_A_PROCESS = (
    "problem-truncated-json",
    "problem-not-utf8",
    "problem-deep-nesting",
    "solution-truncated-json",
)


def _check_rejection(
    proc: subprocess.CompletedProcess[str], bad: Path, needle: str
) -> None:
    """Exit 2, one stderr line 'mlsched: error: ...', no traceback."""
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("mlsched: error: ")
    assert needle in lines[0].replace(str(bad), "<file>")
    assert proc.stdout == ""


@pytest.mark.parametrize(("kind", "content", "needle"), CASES)
def test_cli_rejects_with_exit_2(
    tmp_path: Path, kind: str, content: str | bytes, needle: str
) -> None:
    """Tests that `mlsched evaluate` on the malformed file exits 2 with one
    stderr line 'mlsched: error: ...' and no traceback (through
    ``cli.main``; an escaping exception fails the test)."""
    prob, sol, bad = _files(tmp_path, kind, content)
    _check_rejection(run_main("evaluate", str(prob), str(sol)), bad, needle)


@pytest.mark.parametrize(
    ("kind", "content", "needle"),
    [case for case in CASES if case.id in IN_A_PROCESS],
)
def test_cli_process_rejects_with_exit_2(
    tmp_path: Path, kind: str, content: str | bytes, needle: str
) -> None:
    """Tests that the `mlsched evaluate` process on the malformed file
    exits 2 with one stderr line 'mlsched: error: ...' and no
    traceback."""
    prob, sol, bad = _files(tmp_path, kind, content)
    proc = run_cli("evaluate", str(prob), str(sol), timeout=60)
    _check_rejection(proc, bad, needle)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    """Tests that a path that does not exist (and is no bundled name) is
    an InputError naming it, for problems and solutions."""
    missing = tmp_path / "nope.json"
    with pytest.raises(InputError, match="no such file or bundled"):
        load_problem(missing)
    with pytest.raises(InputError, match=r"nope\.json: no such file"):
        load_solution(missing)


def test_non_path_source_is_an_input_error() -> None:
    """Tests that a source that is neither path, name nor dict (a list) is
    an InputError, not an AttributeError."""
    with pytest.raises(InputError, match="got list"):
        load_problem([1, 2])  # type: ignore[arg-type]
