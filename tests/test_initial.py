"""Tests of warm starts: ``solve(initial_solution=...)`` and
``mlsched solve --initial``.

example1 (two 128x128 Pointwise ops, base costs 1000 and 100, bandwidth
10): one op per subgraph costs 3276.8 + 3276.8 = 6553.6; both ops in one
subgraph keep the intermediate inside and cost 3276.8 (SPEC §9).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from generators import random_problem
from test_bench import exit_code

from mlsched import InputError, cli, load_problem, solve
from mlsched.model.result import SolveStatus

SPLIT: dict[str, Any] = {
    "subgraphs": [[0], [1]],
    "granularities": [[128, 128, 1], [128, 128, 1]],
    "tensors_to_retain": [[], []],
    "traversal_orders": [None, None],
    "subgraph_latencies": [3276.8, 3276.8],
}
FUSED: dict[str, Any] = {
    "subgraphs": [[0, 1]],
    "granularities": [[128, 128, 1]],
    "tensors_to_retain": [[]],
    "traversal_orders": [None],
    "subgraph_latencies": [3276.8],
}


def test_better_initial_beats_naive() -> None:
    """Tests that a naive solve returns a better initial schedule, marked
    as the initial one; it meets the proven lower bound (T0 loaded and T2
    stored: 3276.8), so it is optimal."""
    result = solve("example1", method="naive", initial_solution=FUSED)
    assert result.objective == pytest.approx(3276.8)
    assert result.source == "initial"
    assert result.status is SolveStatus.OPTIMAL
    assert result.lower_bound == pytest.approx(3276.8)


def test_worse_initial_is_not_taken() -> None:
    """Tests that the list schedule (3276.8) stays when the initial one
    is worse (6553.6)."""
    result = solve("example1", method="heuristic", initial_solution=SPLIT)
    assert result.objective == pytest.approx(3276.8)
    assert result.source == "heuristic"


@pytest.mark.parametrize("rules", ["strict", "contest"])
@pytest.mark.parametrize("seed", range(4))
def test_cpsat_never_worse_than_initial(rules: str, seed: int) -> None:
    """Tests that CP-SAT from the naive schedule ends at or below it and
    at or below the list schedule, on random problems."""
    problem = load_problem(random_problem(random.Random(500 + seed)))
    naive = solve(problem, method="naive", rules=rules)
    heur = solve(problem, method="heuristic", rules=rules)
    warm = solve(
        problem,
        rules=rules,
        time_limit=2,
        num_workers=1,
        initial_solution=naive.solution,
    )
    assert warm.objective <= naive.objective * (1 + 1e-12)
    assert warm.objective <= heur.objective * (1 + 1e-12)


@pytest.mark.parametrize(
    ("initial", "category"),
    [
        ({k: v[:1] for k, v in SPLIT.items()}, "op_not_covered"),
        ({**FUSED, "granularities": [[256, 128, 1]]}, "grain_above_native"),
    ],
)
def test_invalid_initial_is_input_error(
    initial: dict[str, Any], category: str
) -> None:
    """Tests that an invalid initial schedule raises, naming the category."""
    with pytest.raises(InputError, match=rf"\[{category}\]"):
        solve("example1", method="heuristic", initial_solution=initial)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("[1", "invalid JSON"),
        ({**FUSED, "subgraphs": "all"}, "subgraphs"),
        ({k: v[:1] for k, v in SPLIT.items()}, "[op_not_covered]"),
    ],
)
def test_cli_bad_initial_exits_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: Any,
    message: str,
) -> None:
    """Tests that a missing, malformed or invalid ``--initial`` is one
    line with exit 2, and nothing is written."""
    path = tmp_path / "initial.json"
    if content is not None:
        path.write_text(
            content if isinstance(content, str) else json.dumps(content)
        )
    out = tmp_path / "out.json"
    code = exit_code(
        ["solve", "example1", "--initial", str(path), "-o", str(out), "-q"]
    )
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT
    assert len(err.strip().splitlines()) == 1
    assert message in err
    assert not out.exists()


def test_cli_initial_writes_better_schedule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tests that ``solve --method naive --initial FUSED`` writes the
    fused schedule."""
    initial = tmp_path / "fused.json"
    initial.write_text(json.dumps(FUSED))
    out = tmp_path / "out.json"
    argv = ["solve", "example1", "--method", "naive", "--initial"]
    code = cli.main([*argv, str(initial), "-o", str(out), "-q"])
    capsys.readouterr()
    assert code == cli.EXIT_OK
    assert json.loads(out.read_text())["subgraphs"] == [[0, 1]]


def test_first_anytime_schedule_is_no_worse_than_initial() -> None:
    """Tests that an anytime caller's first schedule is never worse than
    the initial one: on mlsys-2026-5 the quick first schedule (about
    990,686) is worse than the naive one (922,412), so the naive one
    must be reported first."""
    naive = solve("mlsys-2026-5", method="naive")
    seen: list[float] = []
    solve(
        "mlsys-2026-5",
        method="heuristic",
        initial_solution=naive.solution,
        on_improvement=lambda sol, obj, bound: seen.append(obj),
    )
    assert seen[0] <= naive.objective * (1 + 1e-12)
    assert seen == sorted(seen, reverse=True)
