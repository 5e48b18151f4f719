"""Tests of the gap report for the user's own schedule (``--schedule``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_bench import exit_code

from mlsched import cli
from mlsched.gap import signed_gap

# example1: two 128x128 Pointwise ops (base costs 1000 and 100), bandwidth
# 10. One op per subgraph moves 2 x 16384 elements per op, 3276.8 each,
# 6553.6 in all; fused, the intermediate stays inside: 3276.8 (SPEC §9).
# The proven lower bound is T0 loaded plus T2 stored, 32768 / 10 =
# 3276.8 (docs/lower-bound.md): the fused schedule is optimal.
NAIVE: dict[str, Any] = {
    "subgraphs": [[0], [1]],
    "granularities": [[128, 128, 1], [128, 128, 1]],
    "tensors_to_retain": [[], []],
    "traversal_orders": [None, None],
    "subgraph_latencies": [3276.8, 3276.8],
}


def write(tmp_path: Path, data: Any, name: str = "mine.json") -> str:
    """``data`` as JSON (or as text, if a string) in ``tmp_path``."""
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def test_gap_of_user_schedule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tests that ``gap --schedule`` reports the user's latency, gaps and
    per-subgraph shares.

    Against the best 3276.8 the naive 6553.6 is 50% off; against the
    lower bound, also 3276.8, 50% too; each subgraph is half of the
    total.
    """
    mine = write(tmp_path, NAIVE)
    code = cli.main(
        ["gap", "example1", "--schedule", mine, "--time-limit", "2"]
    )
    text = capsys.readouterr().out
    assert code == cli.EXIT_OK
    assert "yours (mine.json)                      6,553.6   100.00%" in text
    assert "your gap to best found:        50.00%" in text
    assert "your gap to column lb:         50.00%" in text
    assert "your gap to proven lb:         50.00%" in text
    assert "where the time goes in your schedule (2 subgraphs):" in text
    assert "   0 0                            memory" in text
    assert text.count("3,276.8  50.00%") == 2


def test_gap_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Tests that ``gap --schedule --json`` holds the same numbers."""
    mine = write(tmp_path, NAIVE)
    code = cli.main(
        ["gap", "example1", "--schedule", mine, "--time-limit", "2", "--json"]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == cli.EXIT_OK
    assert report["subject"] == "yours"
    assert report["latencies"]["yours"] == pytest.approx(6553.6)
    assert report["best"] == pytest.approx(3276.8)
    assert report["lower_bound"] == pytest.approx(3276.8)
    assert report["gaps"]["to_best"] == pytest.approx(0.5)
    assert report["gaps"]["to_lower_bound"] == pytest.approx(0.5)
    assert [s["share"] for s in report["subgraphs"]] == pytest.approx(
        [0.5, 0.5]
    )


def test_gap_without_schedule_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Tests that plain ``gap --json`` reports the list scheduler, whose
    fused 3276.8 is the best, and no breakdown."""
    code = cli.main(["gap", "example1", "--time-limit", "2", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == cli.EXIT_OK
    assert report["subject"] == "heuristic"
    assert report["latencies"]["yours"] is None
    assert report["gaps"]["to_best"] == 0.0
    assert report["subgraphs"] == []


def test_gap_invalid_schedule_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tests that a schedule missing op 1 is one line naming the
    category, exit 1, and nothing is solved."""
    bad = {k: v[:1] for k, v in NAIVE.items()}
    code = cli.main(["gap", "example1", "--schedule", write(tmp_path, bad)])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_INVALID
    assert out == ""
    assert err.strip() == (
        "mlsched: your schedule is invalid [op_not_covered] (strict): "
        "op 1 is in no subgraph"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "invalid JSON"),
        ([1, 2], "expected a JSON object"),
        ({**NAIVE, "subgraphs": 3}, "subgraphs"),
        ({k: v for k, v in NAIVE.items() if k != "granularities"}, "granu"),
    ],
)
def test_gap_malformed_schedule_exits_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: Any,
    message: str,
) -> None:
    """Tests that a missing or malformed schedule is one line, exit 2."""
    path = (
        str(tmp_path / "missing.json")
        if content is None
        else write(tmp_path, content)
    )
    code = exit_code(["gap", "example1", "--schedule", path])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT
    assert len(err.strip().splitlines()) == 1
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("latency", "reference", "expected"),
    [
        (200.0, 150.0, 0.25),  # a quarter above the reference
        (100.0, 150.0, -0.5),  # below a column bound: negative
        (100.0, None, None),  # no reference
        (0.0, 0.0, None),  # no latency to be relative to
    ],
)
def test_signed_gap(
    latency: float, reference: float | None, expected: float | None
) -> None:
    """Tests that gaps are relative to the latency and keep their sign."""
    assert signed_gap(latency, reference) == expected


def test_gap_breakdown_with_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tests that ``--names`` labels the ops of the breakdown, and that a
    sidecar of another problem is one line, exit 2, before any solve."""
    tensor = {"value": "x", "rows": [0, 128], "cols": [0, 128]}
    names = {
        "model": "toy",
        "ops": [
            {"label": label, "node": label, "op_type": "Relu"}
            for label in ("relu_a", "relu_b")
        ],
        "tensors": [{**tensor, "label": f"t{t}"} for t in range(3)],
    }
    sidecar = write(tmp_path, names, "names.json")
    mine = write(tmp_path, NAIVE)
    argv = ["gap", "example1", "--schedule", mine, "--time-limit", "1"]
    assert cli.main([*argv, "--names", sidecar]) == cli.EXIT_OK
    text = capsys.readouterr().out
    assert "   0 relu_a " in text
    assert "   1 relu_b " in text
    wrong = write(tmp_path, {**names, "ops": names["ops"][:1]}, "other.json")
    assert cli.main([*argv, "--names", wrong]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "1 ops and 3 tensors, but the problem has 2 ops" in err
