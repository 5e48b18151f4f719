"""Tests of the local and Ray executors of batch runs."""

from __future__ import annotations

import builtins
import json
import os
import posixpath
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest
from test_bench import write_graphs

import mlsched
from mlsched import bench, cli
from mlsched.executors import LocalExecutor, RayExecutor

#: Tasks for the executors: paths whose base names are x, y and z.
PATHS = ["a/x", "b/y", "c/z"]


def no_fallback(task: str, error: BaseException) -> str:
    """The fallback of tasks that must not fail."""
    raise AssertionError(f"task {task} failed: {error}")


@pytest.mark.parametrize("jobs", [1, 2])
def test_local_executor_runs_every_task(jobs: int) -> None:
    """Tests that the local executor yields each task's result once."""
    got = dict(
        LocalExecutor(jobs).map_unordered(
            posixpath.basename, PATHS, 1, no_fallback
        )
    )
    assert got == {0: "x", 1: "y", 2: "z"}


def die(code: int) -> int:
    """A task whose worker process dies at once."""
    os._exit(code)


def test_local_worker_death_is_the_fallback() -> None:
    """Tests that tasks whose worker process died get the fallback's
    result instead of stopping the run."""

    def fallback(task: int, error: BaseException) -> int:
        assert isinstance(error, BrokenProcessPool)
        return -task

    got = dict(LocalExecutor(2).map_unordered(die, [3, 4], 1, fallback))
    assert got == {0: -3, 1: -4}


def test_ray_missing_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tests that ``--executor ray`` without Ray is one line, exit 2."""
    real_import = builtins.__import__

    def no_ray(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    code = cli.main(["benchmark", "example1", "--executor", "ray"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT
    assert err.strip() == (
        "mlsched: error: the ray executor needs Ray: "
        'pip install "mlsched[ray]"'
    )


#: The tests that start Ray run in one pytest-xdist worker, which starts
#: it once. They are not ``timed``: the Ray cluster's processes and
#: another test can share the machine, since both runs of
#: ``test_ray_matches_local`` count their budgets on the virtual clock.
uses_ray = pytest.mark.xdist_group("ray")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local two-CPU Ray for the module's tests."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@uses_ray
@pytest.mark.usefixtures("local_ray")
def test_ray_matches_local(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tests that Ray tasks give the local executor's latencies.

    With ``--deterministic`` every budget is counted work, so both runs
    agree exactly even on a generated MoE graph whose 2 s budget cuts
    the search short (the malformed file being an error row in both).
    A run the wall clock stopped (recorded as ``cut_short``: on a loaded
    machine the MoE graph can meet its hard stop) promises no
    reproducibility and is not compared; the two small graphs end long
    before theirs and always are.
    """
    folder = tmp_path / "graphs"
    names = write_graphs(folder, 2)
    moe = mlsched.generate("moe", seed=1, jitter=0.3)
    (folder / "moe.json").write_text(json.dumps(moe.model_dump(mode="json")))
    names.append("moe")
    common = [str(folder), "--time-limit", "2", "--deterministic", "-q"]
    local = tmp_path / "local"
    remote = tmp_path / "ray"
    assert cli.main(["benchmark", *common, "--out", str(local)]) == 1
    assert (
        cli.main(
            ["benchmark", *common, "--executor", "ray", "--out", str(remote)]
        )
        == 1
    )
    capsys.readouterr()
    want = json.loads((local / "results.json").read_text())
    got = json.loads((remote / "results.json").read_text())
    assert [r["instance"] for r in got] == ["broken", *names]
    compared = [
        r["instance"]
        for r, w in zip(got, want, strict=True)
        if not (r["cut_short"] or w["cut_short"])
    ]
    assert set(names[:2]) <= set(compared)
    assert [r["latency"] for r in got if r["instance"] in compared] == [
        r["latency"] for r in want if r["instance"] in compared
    ]
    assert got[0]["error"] == want[0]["error"]
    for name in names:
        assert (remote / f"{name}.cpsat.strict.json").is_file()


@uses_ray
@pytest.mark.usefixtures("local_ray")
def test_ray_streams_in_completion_order() -> None:
    """Tests that the Ray executor yields every task once, by index.

    A pure-Python stdlib function: Ray workers cannot import the test
    modules, and Ray cannot run builtins.
    """
    got = dict(
        RayExecutor().map_unordered(
            posixpath.basename, PATHS, cpus=1, fallback=no_fallback
        )
    )
    assert got == {0: "x", 1: "y", 2: "z"}


def test_bench_run_defaults_to_local(tmp_path: Path) -> None:
    """Tests that ``bench.run`` without an executor runs locally."""
    write_graphs(tmp_path, 1, bad=False)
    [row] = bench.run(bench.resolve([str(tmp_path)]), method="naive")
    assert isinstance(row, bench.Row)
    assert row.latency == row.naive
