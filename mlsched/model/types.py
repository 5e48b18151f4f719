"""The rule profiles and solve methods as types, and latency comparison.

``Rules`` and ``Method`` are ``Literal`` types, so mypy checks a profile
or method name written in the code; ``RULES`` and ``METHODS`` are the
same names as tuples, for run-time checks of user input.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

#: A rule profile (SPEC §8).
Rules = Literal["strict", "contest"]
#: A way to find a schedule (see :func:`mlsched.solve`).
Method = Literal["cpsat", "heuristic", "naive"]

RULES: tuple[Rules, ...] = get_args(Rules)
METHODS: tuple[Method, ...] = get_args(Method)


#: Relative difference below which two latencies count as equal: the
#: same cells summed in another order differ by far less.
ROUNDING = 1e-9


def isclose(a: float, b: float, rel: float = ROUNDING) -> bool:
    """Whether two latencies agree to a relative ``rel``."""
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def improves(latency: float, incumbent: float) -> bool:
    """Whether ``latency`` is lower than ``incumbent`` by more than
    :data:`ROUNDING`: the one test for a better schedule."""
    return latency < incumbent * (1 - ROUNDING)
