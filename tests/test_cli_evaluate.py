"""``mlsched evaluate`` as a user runs it: exit codes 0/1/2, output.

The first test runs a real ``python -m mlsched`` process; the rest call
``mlsched.cli.main`` in this process (``cli_runner.run_main``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run_cli, run_main

Case = dict[str, Any]
Corpus = tuple[Case, ...]


def case_files(case: Case, tmp_path: Path) -> tuple[str, str]:
    """(problem argument, solution path) for a corpus case."""
    raw = case["problem"]
    if isinstance(raw, str):
        # benchmarks-final/mlsys-2026-5.json -> bundled name mlsys-2026-5
        problem = raw.rsplit("/", 1)[-1].removesuffix(".json")
    else:
        path = tmp_path / "problem.json"
        path.write_text(json.dumps(raw))
        problem = str(path)
    sol = tmp_path / "solution.json"
    sol.write_text(json.dumps(case["solution"]))
    return problem, str(sol)


def pick(corpus: Corpus, want: Any) -> Case:
    """The first corpus case on a bundled benchmark satisfying ``want``."""
    return next(
        c
        for c in corpus
        if isinstance(c["problem"], str)
        and "benchmarks" in c["problem"]
        and want(c)
    )


def test_valid_solution_exits_0_with_table(
    corpus: Corpus, tmp_path: Path
) -> None:
    """Tests that a strict-valid corpus schedule exits 0 and prints a
    per-subgraph table ending in the expected total latency."""
    case = pick(corpus, lambda c: c["strict"]["valid"])
    problem, sol = case_files(case, tmp_path)
    proc = run_cli("evaluate", problem, sol)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    assert "latency" in out.splitlines()[0]  # the table header
    total = case["strict"]["total_latency"]
    n = len(case["solution"]["subgraphs"])
    expected = f"valid (strict): {n} subgraphs, total latency {total:.1f}"
    assert expected in out


def test_invalid_solution_exits_1_with_category(
    corpus: Corpus, tmp_path: Path
) -> None:
    """Tests that an out-of-memory corpus schedule exits 1 and prints
    INVALID with its category."""
    case = pick(
        corpus, lambda c: c["strict"].get("category") == "out_of_memory"
    )
    problem, sol = case_files(case, tmp_path)
    proc = run_main("evaluate", problem, sol)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("INVALID [out_of_memory] (strict): ")
    assert "exceeds capacity" in proc.stdout


def test_json_output(corpus: Corpus, tmp_path: Path) -> None:
    """Tests that --json prints one JSON object with the total latency and
    per-subgraph details of a valid schedule."""
    case = pick(corpus, lambda c: c["strict"]["valid"])
    problem, sol = case_files(case, tmp_path)
    proc = run_main("evaluate", problem, sol, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["valid"] is True
    assert data["rules"] == "strict"
    want = case["strict"]
    assert math.isclose(
        data["total_latency"], want["total_latency"], rel_tol=1e-9
    )
    assert len(data["subgraph_latencies"]) == len(want["subgraph_latencies"])
    assert len(data["subgraphs"]) == len(case["solution"]["subgraphs"])


def test_json_output_of_invalid(corpus: Corpus, tmp_path: Path) -> None:
    """Tests that --json on an invalid schedule exits 1 with valid false,
    the category and a null total latency."""
    case = pick(corpus, lambda c: not c["contest"]["valid"])
    problem, sol = case_files(case, tmp_path)
    proc = run_main("evaluate", problem, sol, "--json", "--rules", "contest")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert data["valid"] is False
    assert data["category"] == case["contest"]["category"]
    assert data["total_latency"] is None


def test_rules_contest_accepts_contest_only_schedule(
    corpus: Corpus, tmp_path: Path
) -> None:
    """Tests that a corpus schedule valid under contest rules but not
    strict ones exits 0 with --rules contest and 1 by default."""
    case = next(
        c for c in corpus if c["contest"]["valid"] and not c["strict"]["valid"]
    )
    problem, sol = case_files(case, tmp_path)
    contest = run_main("evaluate", problem, sol, "--rules", "contest")
    assert contest.returncode == 0, contest.stdout + contest.stderr
    total = case["contest"]["total_latency"]
    assert "valid (contest):" in contest.stdout
    assert f"total latency {total:.1f}" in contest.stdout
    strict = run_main("evaluate", problem, sol)
    assert strict.returncode == 1
    category = case["strict"]["category"]
    assert strict.stdout.startswith(f"INVALID [{category}] (strict)")


@pytest.mark.parametrize(
    "args",
    [
        ["evaluate", "example1", "x.json", "--bogus"],  # unknown flag
        ["evaluate", "example1", "x.json", "--rules", "lax"],  # bad choice
        ["evaluate", "example1"],  # solution argument missing
        ["frobnicate"],  # unknown subcommand
        [],  # no subcommand at all
    ],
)
def test_bad_command_line_exits_2(args: list[str]) -> None:
    """Tests that a bad command line exits 2 with one 'error:' line on
    stderr and no traceback."""
    proc = run_main(*args)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("mlsched")
    assert ": error: " in lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr
