"""Tests of the package's source as a whole: functions a reader can hold
in their head.

(The layering and typing checks are in model/test_layers.py and
model/test_bounds.py.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mlsched

PACKAGE = Path(mlsched.__file__).parent
#: The developers' guide: aim under 60 lines, never over 80.
MAX_LINES = 80


def long_functions(source: str, limit: int) -> list[tuple[str, int, int]]:
    """(name, first line, length) of every function or method in
    ``source`` longer than ``limit`` lines, docstring and decorators
    included."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min(
                [node.lineno] + [d.lineno for d in node.decorator_list]
            )
            length = (node.end_lineno or node.lineno) - first + 1
            if length > limit:
                found.append((node.name, first, length))
    return found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # 3 lines: within a limit of 3.
        ("def f():\n    x = 1\n    return x\n", []),
        # 4 lines: one over.
        ("def f():\n    x = 1\n    y = x\n    return y\n", [("f", 1, 4)]),
        # A decorator counts; the nested function (2 lines) does not.
        (
            "@staticmethod\ndef f():\n    def g():\n        pass\n"
            "    return g\n",
            [("f", 1, 5)],
        ),
        # Methods too, async ones included.
        (
            "class C:\n    async def m(self):\n        a = 1\n"
            "        b = 2\n        return a + b\n",
            [("m", 2, 4)],
        ),
    ],
)
def test_long_functions_measures_lines(
    source: str, expected: list[tuple[str, int, int]]
) -> None:
    """Tests that the length check counts a function from its first
    decorator to its last line, for methods and nested functions alike."""
    assert long_functions(source, 3) == expected


def test_no_function_is_over_80_lines() -> None:
    """Tests that no function in ``mlsched/`` runs over 80 lines."""
    too_long = [
        f"{path.relative_to(PACKAGE.parent)}:{line} {name} ({length})"
        for path in sorted(PACKAGE.rglob("*.py"))
        for name, line, length in long_functions(path.read_text(), MAX_LINES)
    ]
    assert too_long == []
