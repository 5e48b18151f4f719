"""Results of solves that several test files check, computed once.

Without a time limit the list scheduler and the naive schedule are
deterministic, and a :class:`Result` is frozen, so one result per
instance, method and profile serves every test of the session.
"""

from __future__ import annotations

from functools import cache

from mlsched.model.result import Result
from mlsched.solve import solve


@cache
def listed(name: str, method: str, rules: str = "strict") -> Result:
    """``solve(name, method=method, rules=rules)`` of a bundled instance,
    for ``method`` ``"heuristic"`` or ``"naive"``, once per session."""
    assert method in ("heuristic", "naive"), method
    return solve(name, method=method, rules=rules)
