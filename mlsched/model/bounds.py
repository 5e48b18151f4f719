"""Floors and a proven lower bound on the latency of a problem."""

from __future__ import annotations

import math
import weakref

from mlsched.model.fusible import can_pass_inside, may_be_ephemeral
from mlsched.model.problem import Problem
from mlsched.model.traffic import traffic_bound
from mlsched.model.types import Rules


def native_tiles(problem: Problem, t: int) -> int:
    """Fewest tiles a subgraph whose outputs have tensor t's shape runs."""
    w_native, h_native = problem.native_granularity
    return -(-problem.widths[t] // w_native) * -(
        -problem.heights[t] // h_native
    )


def compute_floor(problem: Problem) -> float:
    """Sum of base cost times native output tiles over all ops.

    Not a strict lower bound in every case: an op computed on the grid of
    a smaller subgraph output pays for fewer tiles (see
    :func:`lower_bound`).
    """
    return sum(
        problem.base_costs[o] * native_tiles(problem, outs[0])
        for o, outs in enumerate(problem.outputs)
    )


def io_floor(problem: Problem) -> float:
    """Time to move every graph input and output once."""
    moved = sum(
        problem.sizes[t] for t in problem.graph_inputs | problem.graph_outputs
    )
    return moved / problem.slow_memory_bandwidth


def meets(latency: float, bound: float | None) -> bool:
    """Whether ``latency`` reaches ``bound`` (up to rounding): optimal."""
    return bound is not None and latency <= bound * (1 + 1e-9)


def relative_gap(latency: float, bound: float | None) -> float | None:
    """``(latency - bound) / latency`` (at least 0), if both are known."""
    if bound is None or not math.isfinite(latency):
        return None
    if latency <= 0:
        return 0.0
    return max(0.0, (latency - bound) / latency)


def lower_bound(problem: Problem, rules: Rules = "strict") -> float:
    """A lower bound on the latency of every valid schedule.

    The larger of :func:`compute_bound` and the traffic-aware bound of
    :mod:`mlsched.model.traffic` (docs/lower-bound.md proves both).

    Parameters
    ----------
    problem
        The problem.
    rules
        ``"strict"`` or ``"contest"``.

    Returns
    -------
    float
        The bound; a schedule that reaches it is optimal.
    """
    known = _BOUNDS.setdefault(problem, {})
    if rules not in known:
        known[rules] = max(
            compute_bound(problem, rules), traffic_bound(problem, rules)
        )
    return known[rules]


#: Each problem's bound per profile, kept while the problem lives: a
#: problem is frozen, and a solve, its checks and its callers' reports
#: all ask for the same bound.
_BOUNDS: weakref.WeakKeyDictionary[Problem, dict[str, float]] = (
    weakref.WeakKeyDictionary()
)


def compute_bound(problem: Problem, rules: Rules = "strict") -> float:
    """A lower bound from compute alone.

    Every cell costs at least its compute, and an op in a subgraph of n
    tiles computes its base cost n times (its k-steps add up to one
    tile's worth; SPEC §5.1). A subgraph has at least the native tile
    count of its outputs' shape, so an op pays at least that of its own
    output, unless the output is ephemeral. Then the grid comes from an
    output further down a chain of ephemeral links, each one a fusion
    some valid subgraph allows. And an output ephemeral in every
    subgraph of the op has all its readers in subgraphs of the op (SPEC
    §4 item 6), so the op pays at least the largest of their smallest
    grids. Recomputation only adds compute.

    Parameters
    ----------
    problem
        The problem.
    rules
        ``"strict"`` or ``"contest"``.

    Returns
    -------
    float
        The bound; a schedule that reaches it is optimal.
    """
    p = problem
    # reach[o]: fewest tiles of any subgraph holding op o.
    reach: dict[int, int] = {}
    for o in reversed(p.topological_order):
        reach[o] = min(
            min(
                [native_tiles(p, t)]
                + [
                    reach[c]
                    for c in p.consumers[t]
                    if may_be_ephemeral(p, rules, o, t)
                    and can_pass_inside(p, rules, o, c, t)
                ]
            )
            for t in p.outputs[o]
        )
    total = 0.0
    for o in range(p.num_ops):
        tiles = []
        for t in p.outputs[o]:
            readers = p.consumers[t]
            hidden = readers and may_be_ephemeral(p, rules, o, t)
            own = native_tiles(p, t)
            tiles.append(
                min(own, max(reach[c] for c in readers)) if hidden else own
            )
        total += p.base_costs[o] * min(tiles)
    return total
