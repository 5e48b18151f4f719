"""Results of solves that several test files check, computed once.

Without a time limit the list scheduler and the naive schedule are
deterministic, and a :class:`Result` is frozen, so one result per
instance, method and profile serves every test of the session.
"""

from __future__ import annotations

import random
from functools import cache
from typing import Any

from generators import random_problem

from mlsched import Problem, load_problem
from mlsched.model.result import Result
from mlsched.solve import solve


@cache
def bundled(name: str) -> Problem:
    """The bundled instance ``name``, loaded once per session: the
    searches the library keeps per problem object then serve every
    solve of it."""
    return load_problem(name)


@cache
def listed(name: str, method: str, rules: str = "strict") -> Result:
    """``solve(name, method=method, rules=rules)`` of a bundled instance,
    for ``method`` ``"heuristic"`` or ``"naive"``, once per session."""
    assert method in ("heuristic", "naive"), method
    return solve(bundled(name), method=method, rules=rules)


@cache
def random_instance(seed: int) -> tuple[dict[str, Any], Problem]:
    """``random_problem(random.Random(seed))``, raw and loaded."""
    raw = random_problem(random.Random(seed))
    return raw, load_problem(raw)


@cache
def random_listed(seed: int, method: str, rules: str) -> Result:
    """:func:`listed` for the random problem of ``seed``."""
    assert method in ("heuristic", "naive"), method
    return solve(random_instance(seed)[1], method=method, rules=rules)
