"""Tests of batch runs over bundled names, files, directories and globs."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import pytest
from generators import random_problem

import mlsched
from mlsched import bench, cli

T = TypeVar("T")
R = TypeVar("R")
BAD_JSON = '{"widths": [128,'


def exit_code(argv: list[str]) -> int:
    """``cli.main(argv)``'s exit code, also when argparse exits."""
    try:
        return cli.main(argv)
    except SystemExit as stop:
        assert isinstance(stop.code, int)
        return stop.code


def write_graphs(folder: Path, count: int, bad: bool = True) -> list[str]:
    """``count`` random problems ``g0.json`` ... in ``folder``, plus a
    malformed ``broken.json``; the names of the good ones."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        problem = random_problem(random.Random(1000 + i), n_ops=4)
        (folder / f"g{i}.json").write_text(json.dumps(problem))
        names.append(f"g{i}")
    if bad:
        (folder / "broken.json").write_text(BAD_JSON)
    return names


def test_resolve_specs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests that names, files, directories and globs resolve in order.

    A directory stands for its ``*.json`` files in natural order (g2
    before g10), a glob for the files it matches; a repeat is dropped.
    """
    folder = tmp_path / "graphs"
    folder.mkdir()
    for name in ("g10", "g2", "x"):
        (folder / f"{name}.json").write_text("{}")
    (folder / "notes.txt").write_text("not a problem")
    monkeypatch.chdir(tmp_path)
    got = bench.resolve(
        ["example1", "graphs", "graphs/g*.json", "example1.json"]
    )
    assert [(i.name, i.bundled) for i in got] == [
        ("example1", True),
        ("g2", False),
        ("g10", False),
        ("x", False),
    ]
    assert got[1].source == str(Path("graphs") / "g2.json")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nowhere.json", "no such file, directory or bundled instance"),
        ("mlsys-2026-99", "no such file, directory or bundled instance"),
        ("empty", "holds no *.json file"),
        ("nothing*.json", "no file matches"),
        ("twin", "two instances named 'example1'"),
    ],
)
def test_resolve_errors(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    spec: str,
    message: str,
) -> None:
    """Tests that a spec naming nothing, or a second file of the same
    name, is an input error."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "twin").mkdir()
    (tmp_path / "twin" / "example1.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    specs = ["example1", spec]
    with pytest.raises(mlsched.InputError, match=message.replace("*", r"\*")):
        bench.resolve(specs)


def test_time_limits() -> None:
    """Tests that bundled benchmarks get their contest limit times the
    scale, other instances 10 s, and ``time_limit`` overrides both.

    mlsys-2026-1's contest limit is 2 s (SPEC §11).
    """
    bundled = bench.Instance("mlsys-2026-1", "mlsys-2026-1", bundled=True)
    mine = bench.Instance("mlsys-2026-1", "my/mlsys-2026-1.json", False)
    scaled = bench.time_limits(time_scale=0.25)
    assert scaled(bundled) == pytest.approx(0.5)
    assert scaled(mine) == bench.DEFAULT_TIME_LIMIT
    fixed = bench.time_limits(time_scale=0.25, time_limit=3.0)
    assert fixed(bundled) == fixed(mine) == 3.0


def test_benchmark_directory_with_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tests that a malformed file in a directory gets an error row and
    the others a result row each, schedule and records included; exit 1.
    """
    names = write_graphs(tmp_path / "graphs", 3)
    out = tmp_path / "out"
    code = cli.main(
        [
            "benchmark",
            str(tmp_path / "graphs"),
            "--method",
            "heuristic",
            "--out",
            str(out),
            "-q",
        ]
    )
    text = capsys.readouterr().out
    assert code == cli.EXIT_INVALID
    assert "broken         error: problem " in text
    assert "invalid JSON" in text
    assert "3 instances (and 1 failed)" in text
    records = json.loads((out / "results.json").read_text())
    assert [r["instance"] for r in records] == ["broken", *names]
    assert records[0]["latency"] is None
    assert "invalid JSON" in records[0]["error"]
    csv_lines = (out / "results.csv").read_text().strip().splitlines()
    assert len(csv_lines) == 1 + 4
    for record in records[1:]:
        assert record["error"] is None
        path = out / f"{record['instance']}.heuristic.strict.json"
        problem = tmp_path / "graphs" / f"{record['instance']}.json"
        ev = mlsched.evaluate(problem, path)
        assert ev.total_latency == pytest.approx(record["latency"])


def test_benchmark_all_good_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tests that a glob of good files runs each with exit 0, and a file
    without a contest limit is solved within the 10 s default."""
    write_graphs(tmp_path, 2, bad=False)
    code = cli.main(
        ["benchmark", str(tmp_path / "g*.json"), "--workers", "1", "-q"]
    )
    text = capsys.readouterr().out
    assert code == cli.EXIT_OK
    assert "2 instances;" in text
    assert "error" not in text


def test_infeasible_instance_is_an_error_row(tmp_path: Path) -> None:
    """Tests that an instance with no valid schedule is a failure row."""
    from generators import random_infeasible_problem

    path = tmp_path / "tight.json"
    path.write_text(json.dumps(random_infeasible_problem(random.Random(3))))
    [result] = bench.run(bench.resolve([str(path)]), method="heuristic")
    assert isinstance(result, bench.Failure)
    assert result.error.startswith("no schedule (infeasible)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--executor", "slurm"], "invalid choice: 'slurm'"),
        (["--address", "127.0.0.1:6379"], "needs the ray executor"),
        (["nowhere.json"], "no such file"),
        (["--time-scale", "0"], "--time-scale must be positive"),
        (["--jobs", "0"], "--jobs must be at least 1"),
        (
            ["--deterministic", "--workers", "2"],
            "--deterministic runs one CP-SAT worker, not 2",
        ),
    ],
)
def test_benchmark_bad_arguments(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    """Tests that bad benchmark arguments are one line with exit 2."""
    monkeypatch.chdir(tmp_path)
    code = exit_code(["benchmark", "example1", *args])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT
    assert len(err.strip().splitlines()) == 1
    assert message in err


class LostNodes:
    """An executor whose every worker dies before returning."""

    def map_unordered(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        cpus: int,
        fallback: Callable[[T, BaseException], R],
    ) -> Iterator[tuple[int, R]]:
        """Every task's fallback, for a two-line error."""
        for i, task in enumerate(tasks):
            yield i, fallback(task, RuntimeError("node lost\ntraceback..."))


def test_dead_worker_is_an_error_row(tmp_path: Path) -> None:
    """Tests that an instance whose worker died is a one-line error row,
    and the batch still returns every instance."""
    names = write_graphs(tmp_path, 2, bad=False)
    results = bench.run(bench.resolve([str(tmp_path)]), executor=LostNodes())
    assert [r.instance for r in results] == names
    for r in results:
        assert isinstance(r, bench.Failure)
        assert r.error == "worker failed: RuntimeError: node lost"


def test_cut_short_rows_are_recorded_and_counted(tmp_path: Path) -> None:
    """Tests that a row whose deterministic run the wall clock stopped
    carries ``cut_short`` into results.json and results.csv, and that
    the table's last line counts it (and says nothing when none is)."""
    row = bench.Row(
        instance="g0",
        ops=4,
        method="cpsat",
        rules="strict",
        naive=10.0,
        heuristic=9.0,
        latency=8.0,
        column_bound=None,
        best_published=None,
        time_limit=2.0,
        runtime=2.1,
        status="feasible",
        source="cpsat",
        cut_short=True,
    )
    clean = dataclasses.replace(row, instance="g1", cut_short=False)
    bench.save([row, clean], str(tmp_path))
    records = json.loads((tmp_path / "results.json").read_text())
    assert [r["cut_short"] for r in records] == [True, False]
    assert "cut_short" in (tmp_path / "results.csv").read_text().split()[0]
    last = bench.table([row, clean]).splitlines()[-1]
    assert last.endswith("may not reproduce): 1")
    assert "cut short" not in bench.table([clean])
