"""Floors and a proven lower bound on the latency of a problem."""

from __future__ import annotations

import logging
import math
import weakref
from typing import NamedTuple

from mlsched.model.alone import (
    alone_floor,
    heading_floor,
    pair_surplus,
    path_surplus,
    pointwise_floor,
    runs_alone,
)
from mlsched.model.chains import Chains, native_tiles
from mlsched.model.fusible import may_be_ephemeral
from mlsched.model.problem import Problem
from mlsched.model.traffic import OutOfTime, traffic_bound
from mlsched.model.types import Rules

logger = logging.getLogger(__name__)


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

    The larger of :func:`alone_bound` (the compute bound, with the
    traffic of ops that can only run alone in strict) and the
    traffic-aware bound of :mod:`mlsched.model.traffic`
    (docs/lower-bound.md proves both).

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
    return lower_bound_by(problem, rules, None).value


class ProvenBound(NamedTuple):
    """A lower bound proven over all valid schedules, and which one."""

    value: float
    #: False where the traffic bound ran out of time: ``value`` is then
    #: :func:`alone_bound` only (still proven, often far weaker).
    traffic: bool

    @property
    def note(self) -> str:
        """What a result should add about this bound: empty unless the
        traffic bound ran out of time."""
        if self.traffic:
            return ""
        return (
            "the traffic-aware bound did not finish within the time "
            "limit: the proven lower bound counts compute (and the "
            "traffic of MatMuls and Pointwise ops that run alone) only"
        )


def lower_bound_by(
    problem: Problem, rules: Rules, stop: float | None
) -> ProvenBound:
    """:func:`lower_bound`, or :func:`alone_bound` alone if the traffic
    bound is not done by ``stop`` (a ``time.perf_counter()`` instant;
    None: no stop). Only complete bounds are kept for later calls."""
    known = _BOUNDS.setdefault(problem, {})
    if rules not in known:
        floor = alone_bound(problem, rules)
        try:
            floor = max(floor, traffic_bound(problem, rules, stop))
        except OutOfTime:
            logger.info("the traffic bound ran out of time")
            return ProvenBound(floor, traffic=False)
        known[rules] = floor
    return ProvenBound(known[rules], traffic=True)


def known_lower_bound(problem: Problem, rules: Rules) -> float | None:
    """The complete :func:`lower_bound` if it has been computed (in any
    thread), else None: never computes it (it can take seconds)."""
    return _BOUNDS.get(problem, {}).get(rules)


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
    some valid subgraph allows, and no chain that the limits on a
    subgraph's MatMuls rule out (:mod:`mlsched.model.chains`). And an
    output ephemeral in every subgraph of the op has all its readers in
    subgraphs of the op (SPEC §4 item 6), so the op pays at least the
    largest of their smallest grids. Recomputation only adds compute.

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
    return sum(_compute_floors(problem, rules))


def alone_bound(problem: Problem, rules: Rules = "strict") -> float:
    """:func:`compute_bound`, where in strict each MatMul that runs alone
    with several k-steps wherever it does not head a chain also pays the
    loads and stores no schedule hides behind its compute, there or, if
    that is less, where it heads one, each Pointwise op that no other
    op can join pays the traffic of its own subgraph, a MatMul whose
    operands two such MatMuls make pays what one of them must to get its
    operand there, and a Pointwise op whose two inputs two such MatMuls
    make pays the slices its subgraph must load of one of them
    (:mod:`mlsched.model.alone`).

    Parameters
    ----------
    problem
        The problem.
    rules
        ``"strict"`` or ``"contest"`` (the contest profile lets k reach
        K, so there this is the compute bound).

    Returns
    -------
    float
        The bound; a schedule that reaches it is optimal.
    """
    return sum(alone_floors(problem, rules))


def alone_floors(problem: Problem, rules: Rules = "strict") -> list[float]:
    """Each op's share of :func:`alone_bound`: its least cost in any
    schedule, where no two shares lie in the same cells."""
    chains = Chains(problem, rules)
    floors = _compute_floors(problem, rules, chains)
    if rules == "strict":
        for o in range(problem.num_ops):
            if runs_alone(problem, o):
                least = min(
                    alone_floor(problem, o, chains),
                    heading_floor(problem, o, chains),
                )
                floors[o] = max(floors[o], least)
        before = list(floors)
        for q in range(problem.num_ops):
            floors[q] = pointwise_floor(problem, q, floors, chains)
        claimed = [f - b for f, b in zip(floors, before, strict=True)]
        extra = [
            pair_surplus(problem, c, floors, claimed, chains)
            + path_surplus(problem, c, floors, chains)
            for c in range(problem.num_ops)
        ]
        floors = [f + e for f, e in zip(floors, extra, strict=True)]
    return floors


def _compute_floors(
    p: Problem, rules: Rules, chains: Chains | None = None
) -> list[float]:
    """Each op's least compute (see :func:`compute_bound`)."""
    chains = Chains(p, rules) if chains is None else chains
    floors = []
    for o in range(p.num_ops):
        tiles = []
        for t in p.outputs[o]:
            readers = p.consumers[t]
            own: float = native_tiles(p, t)
            if readers and may_be_ephemeral(p, rules, o, t):
                start = chains.start(o)
                own = min(
                    own, max(chains.via(o, c, t, start) for c in readers)
                )
            tiles.append(own)
        floors.append(p.base_costs[o] * min(tiles))
    return floors
