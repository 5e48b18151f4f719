"""Tests of what the model layer is: no OR-Tools, typed, one home."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from mlsched.model import subgraph, types


def test_model_does_not_import_ortools() -> None:
    """Tests that ``import mlsched.model`` loads no ``ortools`` module.

    The model layer (schemas, evaluator, bounds) must work without
    OR-Tools and not pay its import time. A fresh interpreter, since
    this one has loaded the solver for other tests.
    """
    code = (
        "import sys, mlsched.model; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ortools'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_package_is_marked_typed() -> None:
    """Tests that ``mlsched/py.typed`` exists and is package data (PEP
    561), so mypy uses the package's annotations when it is installed."""
    assert (resources.files("mlsched") / "py.typed").is_file()
    pyproject = Path(__file__).parents[2] / "pyproject.toml"
    config = tomllib.loads(pyproject.read_text())
    data = config["tool"]["setuptools"]["package-data"]["mlsched"]
    assert "py.typed" in data


def test_rules_and_isclose_have_one_home() -> None:
    """Tests that the old import names in ``model.subgraph`` are the
    objects of ``model.types`` and that the tuples match the Literals."""
    assert subgraph.RULES is types.RULES
    assert subgraph.Rules is types.Rules
    assert subgraph.isclose is types.isclose
    assert types.RULES == ("strict", "contest")
    assert types.METHODS == ("cpsat", "heuristic", "naive")
