"""Shared access to the conformance corpus (SPEC §10).

``tests/data/cases.jsonl`` holds 600 schedules with the expected verdict
in both rule profiles. Any test that takes a ``case`` argument is run once
per corpus case, and one that takes ``valid_case`` once per case that is
valid in the contest profile (``pytest_generate_tests`` below); the
``problem_of`` fixture turns a case's ``problem`` field into a
:class:`mlsched.Problem`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``case`` / ``valid_case`` over the corpus."""
    cases = corpus_cases()
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", cases, ids=[c["id"] for c in cases])
    if "valid_case" in metafunc.fixturenames:
        valid = [c for c in cases if c["contest"]["valid"]]
        metafunc.parametrize("valid_case", valid, ids=[c["id"] for c in valid])
