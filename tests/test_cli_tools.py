"""Tests of ``mlsched plot``, ``mlsched gap`` and ``mlsched benchmark``."""

from __future__ import annotations

import builtins
import json
import struct
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run_cli, run_main
from solved import listed

import mlsched
from mlsched import bench, cli
from mlsched.plot import DPI, FIGSIZE, PlotUnavailable, plot_schedule


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG file's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture
def schedule(tmp_path: Path) -> Path:
    """A heuristic schedule of contest benchmark 3 (four ops)."""
    result = listed("mlsys-2026-3", "heuristic")
    assert result.solution is not None
    path = tmp_path / "schedule.json"
    path.write_text(result.solution.to_json())
    return path


def test_plot_writes_png_of_expected_size(
    tmp_path: Path, schedule: Path
) -> None:
    """Tests that ``mlsched plot`` renders a non-empty PNG of 1200x700."""
    pytest.importorskip("matplotlib")
    out = tmp_path / "schedule.png"
    done = run_cli(
        "plot",
        "mlsys-2026-3",
        str(schedule),
        "-o",
        str(out),
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 10_000
    assert png_size(out) == (
        int(FIGSIZE[0] * DPI),
        int(FIGSIZE[1] * DPI),
    )
    assert not list(tmp_path.glob(".*tmp*"))


def test_plot_svg(tmp_path: Path, schedule: Path) -> None:
    """Tests that an .svg output is an SVG document."""
    pytest.importorskip("matplotlib")
    out = tmp_path / "schedule.svg"
    problem = mlsched.load_problem("mlsys-2026-3")
    solution = mlsched.load_solution(schedule)
    ev = plot_schedule(problem, solution, out)
    assert ev.valid
    assert "<svg" in out.read_text()[:2000]


def test_plot_without_matplotlib(
    tmp_path: Path, schedule: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests that without matplotlib the command says how to install it."""
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    for name in [m for m in sys.modules if m.startswith("matplotlib")]:
        monkeypatch.delitem(sys.modules, name)
    out = tmp_path / "schedule.png"
    with pytest.raises(PlotUnavailable, match=r"mlsched\[plot\]"):
        plot_schedule(
            mlsched.load_problem("mlsys-2026-3"),
            mlsched.load_solution(schedule),
            out,
        )
    code = cli.main(["plot", "mlsys-2026-3", str(schedule), "-o", str(out)])
    assert code == 2
    assert not out.exists()


@pytest.mark.parametrize(
    ("output", "needle"),
    [
        ("schedule.gif", "must end in .png"),  # unsupported image format
        ("missing/schedule.png", "does not exist"),  # no such directory
    ],
)
def test_plot_bad_output(
    tmp_path: Path, schedule: Path, output: str, needle: str
) -> None:
    """Tests that a bad output path is a one-line error with exit 2."""
    done = run_main(
        "plot",
        "mlsys-2026-3",
        str(schedule),
        "-o",
        str(tmp_path / output),
        cwd=tmp_path,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert needle in lines[0]


def test_plot_refuses_invalid_schedule(tmp_path: Path) -> None:
    """Tests that plotting an invalid schedule exits 1 and writes nothing.

    One op per subgraph with [128, 128, 128] on example 4 runs out of
    memory (SPEC §9), so there is nothing to draw.
    """
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "subgraphs": [[0]],
                "granularities": [[128, 128, 128]],
                "tensors_to_retain": [[]],
                "traversal_orders": [None],
                "subgraph_latencies": [0],
            }
        )
    )
    out = tmp_path / "x.png"
    done = run_main("plot", "example4", str(bad), "-o", str(out), cwd=tmp_path)
    assert done.returncode == 1
    assert "out_of_memory" in done.stderr
    assert not out.exists()


def test_gap_report(tmp_path: Path) -> None:
    """Tests that ``mlsched gap`` prints every latency and both gaps.

    On example 1 (two 128x128 Pointwise ops) the fused subgraph costs
    3276.8 (SPEC §9) against 6553.6 for one op per subgraph, so the best
    found beats naive by 2x. The proven lower bound is T0 loaded plus T2
    stored, 32768 / 10 = 3276.8 (docs/lower-bound.md), so the heuristic
    is proven optimal.
    """
    done = run_cli(
        "gap", "example1", "--time-limit", "2", cwd=tmp_path, timeout=300
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    for label in (
        "naive",
        "list scheduler",
        "CP-SAT",
        "compute floor",
        "I/O floor",
        "gap to best found",
    ):
        assert label in text
    assert "proven lower bound (all)               3,276.8" in text
    assert "heuristic gap to proven lb:    0.00% (proven optimal)" in text
    assert "6,553.6" in text
    assert "3,276.8" in text
    assert "2.000x" in text


def test_benchmark_matches_solve(tmp_path: Path) -> None:
    """Tests that ``mlsched benchmark`` rows match solving one by one.

    The heuristic is deterministic, so each row's latency must equal a
    separate ``solve`` of the same instance, and the written files must
    hold the same numbers and valid schedules. All three schedules meet
    the proven lower bound: example3's 4500 of compute, and the memory
    traffic of benchmarks 1 (367001.6) and 3 (65536).
    """
    names = ["mlsys-2026-1", "mlsys-2026-3", "example3"]
    out = tmp_path / "results"
    done = run_cli(
        "benchmark",
        *names,
        "--method",
        "heuristic",
        "--jobs",
        "2",
        "--out",
        str(out),
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "geomean" in done.stdout
    assert "proven optimal (at the lower bound): 3" in done.stdout
    records = json.loads((out / "results.json").read_text())
    assert [r["instance"] for r in records] == names
    assert [r["proven_optimal"] for r in records] == [True, True, True]
    csv_lines = (out / "results.csv").read_text().strip().splitlines()
    assert len(csv_lines) == 1 + len(names)
    for record in records:
        alone = listed(record["instance"], "heuristic")
        assert record["latency"] == pytest.approx(alone.objective, rel=1e-12)
        path = out / f"{record['instance']}.heuristic.strict.json"
        ev = mlsched.evaluate(record["instance"], path)
        assert ev.valid
        assert ev.total_latency == pytest.approx(alone.objective, rel=1e-12)


@pytest.mark.parametrize(
    ("jobs", "workers", "cores", "expected"),
    [
        (1, None, 2, (1, 2)),  # one job gets every core
        (2, None, 2, (2, 1)),  # two jobs share two cores
        (2, 2, 2, (2, 1)),  # 2 x 2 > 2 cores: workers cut to 1
        (8, None, 2, (2, 1)),  # no more jobs than cores
    ],
)
def test_plan_workers(
    monkeypatch: pytest.MonkeyPatch,
    jobs: int,
    workers: int | None,
    cores: int,
    expected: tuple[int, int],
) -> None:
    """Tests that jobs x workers never exceeds the cores."""
    monkeypatch.setattr(bench.os, "cpu_count", lambda: cores)
    assert bench.plan_workers(jobs, workers) == expected


@pytest.mark.parametrize(
    "args",
    [
        ["mlsys-2026-99"],  # unknown bundled instance
        ["--time-scale", "0"],  # no time
        ["--jobs", "0"],  # no jobs
        ["--time-limit", "-1"],  # negative budget for every instance
        ["--workers", "0"],  # no CP-SAT workers
        ["--method", "magic"],  # unknown method
    ],
)
def test_benchmark_bad_flags(tmp_path: Path, args: list[str]) -> None:
    """Tests that bad benchmark flags are a one-line error with exit 2."""
    done = run_main("benchmark", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_version(tmp_path: Path) -> None:
    """Tests that ``mlsched --version`` prints the package version."""
    done = run_main("--version", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.strip() == f"mlsched {mlsched.__version__}"
