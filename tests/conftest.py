"""Shared access to the conformance corpus (SPEC §10).

``tests/data/cases.jsonl`` holds 600 schedules with the expected verdict
in both rule profiles. Any test that takes a ``case`` argument is run once
per corpus case, and one that takes ``valid_case`` once per case that is
valid in the contest profile (``pytest_generate_tests`` below); the
``problem_of`` fixture turns a case's ``problem`` field into a
:class:`mlsched.Problem`.

Under pytest-xdist, a ``timed`` test runs alone (``alone_if_timed``).
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from mlsched import Problem, load_problem

CASES_PATH = Path(__file__).parent / "data" / "cases.jsonl"


@cache
def corpus_cases() -> tuple[dict[str, Any], ...]:
    """Every corpus case, in file order."""
    with CASES_PATH.open() as fh:
        return tuple(json.loads(line) for line in fh if line.strip())


def bundled_name(path: str) -> str:
    """``"benchmarks-final/mlsys-2026-5.json"`` -> ``"mlsys-2026-5"``."""
    name = path.rsplit("/", 1)[-1]
    return name.removesuffix(".json")


@cache
def _bundled_problem(name: str) -> Problem:
    return load_problem(name)


def problem_of(raw: str | dict[str, Any]) -> Problem:
    """The problem of a corpus case (a bundled file name or a dict)."""
    if isinstance(raw, str):
        return _bundled_problem(bundled_name(raw))
    return load_problem(raw)


@pytest.fixture(name="problem_of")
def problem_of_fixture() -> Callable[[str | dict[str, Any]], Problem]:
    """The :func:`problem_of` loader (bundled problems are cached)."""
    return problem_of


@pytest.fixture(name="corpus")
def corpus_fixture() -> tuple[dict[str, Any], ...]:
    """All 600 corpus cases."""
    return corpus_cases()


@pytest.fixture(autouse=True)
def alone_if_timed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Under pytest-xdist, hold every other test back while a ``timed``
    one runs (a readers-writer lock on files all workers share).

    A timed test measures wall-clock time or needs a solve done before
    its hard stop: it gets the machine the test run has, as it would
    in a single process. The turnstile keeps a stream of other tests
    from starving it.
    """
    if not hasattr(request.config, "workerinput"):  # not an xdist worker
        yield
        return
    shared = tmp_path_factory.getbasetemp().parent
    timed = request.node.get_closest_marker("timed") is not None
    with (
        (shared / "timed.turnstile").open("a") as turnstile,
        (shared / "timed.lock").open("a") as lock,
    ):
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        fcntl.flock(lock, fcntl.LOCK_EX if timed else fcntl.LOCK_SH)
        if not timed:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            fcntl.flock(turnstile, fcntl.LOCK_UN)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``case`` / ``valid_case`` over the corpus."""
    cases = corpus_cases()
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", cases, ids=[c["id"] for c in cases])
    if "valid_case" in metafunc.fixturenames:
        valid = [c for c in cases if c["contest"]["valid"]]
        metafunc.parametrize("valid_case", valid, ids=[c["id"] for c in valid])
