"""Tests that the package is marked typed and its type names have one home.

(That ``import mlsched.model`` loads no OR-Tools is tested in
test_bounds.py, test_model_layer_does_not_import_ortools.)
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from mlsched.model import subgraph, types


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
