"""A lower bound that sees memory traffic (proof: docs/lower-bound.md).

Every op is charged for ONE of its appearances: its compute there, the
loads of the inputs it is the designated payer of, and the stores of its
outputs. Each op picks a local *configuration* (the state of each input
and output, its MatMul role, one or several k-steps, the grid) and the
cheapest granularity that fits its own share of the working set. One
edge per op (to a consumer it could be fused with) is kept exact: both
ends agree whether the tensor is ephemeral there, and on the grid. These
edges form a forest, solved exactly by dynamic programming. Compute and
traffic are combined per cell as ``theta * compute + (1 - theta) *
transfer``, which is at most the cell's latency for every ``theta`` in
[0, 1], with one ``theta`` per class of cells (one-k-step subgraphs,
k-step 0 and the later k-steps of the others); the bound is the best
row of a grid of such weights.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import NamedTuple

import numpy as np

from mlsched.model.fusible import (
    can_pass_inside,
    may_be_ephemeral,
    square_k,
)
from mlsched.model.problem import Problem
from mlsched.model.types import Rules

#: The ``theta`` values of the grid's diagonal.
THETAS = np.linspace(0.0, 1.0, 21)


#: (FIRST, MID, LAST) weights tried beside the diagonal, each with every
#: ONE of :data:`_ONES` (the rows that win on the contest benchmarks).
_OFF_DIAGONAL = (
    (0.0, 0.0, 0.0),
    (0.5, 0.0, 0.0),
    (0.9, 0.0, 0.0),
    (1.0, 0.0, 0.0),
    (0.0, 0.5, 0.5),
    (1.0, 1.0, 0.0),
)
_ONES = (0.6, 0.9, 1.0)


def _profiles() -> np.ndarray:
    """Rows of weights (ONE, FIRST, MID, LAST) for the four classes of
    cells: those of one-k-step subgraphs; k-step 0, the middle k-steps
    and the last k-step of the others (docs/lower-bound.md, inequality
    (17)). Any row in [0, 1]^4 gives a valid bound: the diagonal (one
    theta for every cell), and rows that weigh k-step 0, where every
    Pointwise op computes, and the last k-step, where every store
    moves, apart from the middle ones, where only MatMul slices do."""
    rows = {(t, t, t, t) for t in THETAS}
    for one in _ONES:
        for first, mid, last in _OFF_DIAGONAL:
            rows.add((one, first, mid, last))
    return np.array(sorted(rows))


#: The weight rows tried (columns ONE, FIRST, MID, LAST).
PROFILES = _profiles()
ONE, FIRST, MID, LAST = PROFILES.T
_CLASSES = PROFILES[:, 1:]  # the weights of several k-steps' cells

#: How many exact edges up a chain of uncharged appearances is followed
#: (stopping anywhere only drops non-negative terms).
CHAIN = 8

Shape = tuple[int, int]  # (width, height)


@dataclass(frozen=True)
class Shared:
    """What the ops fused above an op (in its subgraph, along exact
    edges) add to its working set and granularity rules: their slice
    uses (not their retained inputs, which two ops may share), their
    non-ephemeral outputs (``planes``) and their tile-size rules
    (docs/lower-bound.md, inequality (13))."""

    ws0: int = 0
    ws_h: int = 0
    ws_w: int = 0
    ws_hw: int = 0
    planes: int = 0
    w_min: int = 1
    h_min: int = 1
    w_eq: int = 0

    def meet(self, other: Shared) -> Shared:
        """What both impose (componentwise the weaker)."""
        return Shared(
            ws0=min(self.ws0, other.ws0),
            ws_h=min(self.ws_h, other.ws_h),
            ws_w=min(self.ws_w, other.ws_w),
            ws_hw=min(self.ws_hw, other.ws_hw),
            planes=min(self.planes, other.planes),
            w_min=min(self.w_min, other.w_min),
            h_min=min(self.h_min, other.h_min),
            w_eq=self.w_eq if self.w_eq == other.w_eq else 0,
        )


NOTHING = Shared()
#: A fused edge's grid, "several k-steps" and what the ops above share.
Label = tuple[Shape, bool, Shared]
Label2 = tuple[Shape, bool]  # a label's grid and "several k-steps"
_Sum = np.ndarray | float  # a cost per weight row and bucket, or 0.0


class State(Enum):
    """Where a tensor is, seen from the op's charged appearance."""

    EPH = "ephemeral"  # inside the subgraph: no traffic, no memory
    KEPT = "retained"  # input in P / output in R: no traffic
    LOAD = "loaded"  # input read from slow memory
    EVICT = "evicted"  # output written to slow memory


@dataclass(frozen=True)
class Config:
    """One local configuration of an op's charged appearance.

    Attributes
    ----------
    ins
        State of each distinct input tensor, in input order.
    outs
        State of each output tensor.
    feed
        ``"lhs"`` / ``"rhs"``: a MatMul whose ephemeral output a MatMul
        of the subgraph reads on that side; ``None`` otherwise.
    grid
        (W_out, H_out) of the subgraph.
    many
        More than one k-step.
    """

    ins: tuple[State, ...]
    outs: tuple[State, ...]
    feed: str | None
    grid: Shape
    many: bool


@dataclass(frozen=True)
class Terms:
    """Working set, traffic and rule masks of a configuration.

    ``ws = ws0 + ws_h*h + ws_w*w + ws_hw*h*w``; traffic (elements) is
    ``m0 + m_nw*nw + m_nh*nh + m_n*N + m_x*X`` with X the extra reloads
    of a two-sided MatMul at one k-step; ``w >= w_min``, ``h >= h_min``
    and, if set, ``w == w_eq``. With several k-steps (``many``),
    ``stores`` of ``m0`` move at the last k-step and the rest of ``m0``
    at k-step 0; the other traffic moves at every k-step, a share ``f``
    of it and of the compute at k-step 0 and a share ``g`` at the last,
    for ``(f, g)`` in the hull of ``ends`` (``((1.0, 0.0),)``: all
    compute at k-step 0, a Pointwise op).
    """

    grid: Shape
    base: float
    ws0: int
    ws_h: int
    ws_w: int
    ws_hw: int
    m0: float
    m_nw: float
    m_nh: float
    m_n: float
    m_x: float
    w_min: int = 1
    h_min: int = 1
    w_eq: int = 0
    kept: int = 0
    planes: int = 0
    stores: float = 0.0
    many: bool = False
    ends: tuple[tuple[float, float], ...] = ((1.0, 0.0),)

    def shared(self) -> Shared:
        """What these terms impose on an op fused below them."""
        return Shared(
            ws0=self.ws0 - self.kept,
            ws_h=self.ws_h,
            ws_w=self.ws_w,
            ws_hw=self.ws_hw - max(1, self.planes),
            planes=self.planes,
            w_min=self.w_min,
            h_min=self.h_min,
            w_eq=self.w_eq,
        )

    def priced(self) -> tuple[object, ...]:
        """Every field the costs of these terms depend on: all but
        ``kept`` and ``planes``, which only :meth:`shared` and
        :meth:`plus` read (configurations that differ in them alone,
        such as an output kept or ephemeral, share their costs)."""
        return (
            self.grid,
            self.base,
            self.ws0,
            self.ws_h,
            self.ws_w,
            self.ws_hw,
            self.m0,
            self.m_nw,
            self.m_nh,
            self.m_n,
            self.m_x,
            self.w_min,
            self.h_min,
            self.w_eq,
            self.stores,
            self.many,
            self.ends,
        )

    def plus(self, up: Shared) -> Terms:
        """These terms in a subgraph that also holds ``up``'s ops."""
        if up == NOTHING:
            return self
        planes = self.planes + up.planes
        w_min = max(self.w_min, up.w_min)
        if self.w_eq and up.w_eq and self.w_eq != up.w_eq:
            w_min = 1 << 30  # two square rules that disagree: no w fits
        return Terms(
            grid=self.grid,
            base=self.base,
            ws0=self.ws0 + up.ws0,
            ws_h=self.ws_h + up.ws_h,
            ws_w=self.ws_w + up.ws_w,
            ws_hw=self.ws_hw - max(1, self.planes) + up.ws_hw + max(1, planes),
            m0=self.m0,
            m_nw=self.m_nw,
            m_nh=self.m_nh,
            m_n=self.m_n,
            m_x=self.m_x,
            w_min=w_min,
            h_min=max(self.h_min, up.h_min),
            w_eq=self.w_eq or up.w_eq,
            kept=self.kept,
            planes=planes,
            stores=self.stores,
            many=self.many,
            ends=self.ends,
        )


class _Option(NamedTuple):
    """A costed configuration: its terms and its cost per theta."""

    cfg: Config
    terms: Terms
    value: np.ndarray  # per weight row, the least over tile counts
    table: np.ndarray  # per weight row and tile-count bucket (or inf)


class _Grid:
    """Tile counts of every granularity (w, h) on one grid, as arrays."""

    def __init__(self, shape: Shape, native: tuple[int, int]) -> None:
        width, height = shape
        self.w = np.arange(1, native[0] + 1, dtype=np.float64)[None, :]
        self.h = np.arange(1, native[1] + 1, dtype=np.float64)[:, None]
        self.nw = np.ceil(width / self.w)
        self.nh = np.ceil(height / self.h)
        self.n = self.nh * self.nw
        w_last = width - (self.nw - 1) * self.w
        h_last = height - (self.nh - 1) * self.h
        # Extra strip reloads of a two-sided MatMul at one k-step, per
        # unit of K (docs/lower-bound.md, inequality (5)): over all
        # strips, or over the full-size ones only.
        full_rows = self.nh - (h_last < self.h)
        full_cols = self.nw - (w_last < self.w)
        self.x = np.maximum(
            (self.nh - 1) * (self.nw - 1) * np.minimum(h_last, w_last),
            np.maximum(full_rows - 1, 0)
            * np.maximum(full_cols - 1, 0)
            * np.minimum(self.h, self.w),
        )
        # One granularity per (nw, nh) class: the smallest w and h (the
        # working set grows with w and h; used when traffic has no X).
        cols = _classes(self.nw[0])
        rows = _classes(self.nh[:, 0])
        self.classes = _Cells(
            self.w[:, cols],
            self.h[rows],
            self.nw[:, cols],
            self.nh[rows],
            self.x[rows][:, cols],
        )

    @cached_property
    def every(self) -> _Cells:
        """Every granularity (for traffic with X, or tile-size rules)."""
        return _Cells(self.w, self.h, self.nw, self.nh, self.x)


def _bucket(n: np.ndarray) -> np.ndarray:
    """Bucket of each tile count: exact up to 64, then 16 per octave."""
    return np.where(n <= 64, n, 64 + np.floor(16 * np.log2(n / 64)))


def _at_most_one(
    kids: list[tuple[np.ndarray, np.ndarray | None]],
) -> _Sum:
    """The least sum over fused subtrees given as (cost without a
    MatMul, cost with any, or None where only the first is allowed),
    with at most one subtree holding MatMuls (inequality (18))."""
    frees = [free for free, _ in kids]
    best: _Sum = sum(frees, 0.0)
    for i, (_, any_) in enumerate(kids):
        if any_ is not None:
            others = sum(frees[:i] + frees[i + 1 :], 0.0)
            best = np.minimum(best, others + any_)
    return best


def _plus(
    costs: np.ndarray, loose: list[np.ndarray], fused: _Sum
) -> np.ndarray:
    """``costs`` plus each of ``loose`` and then ``fused``: always in
    this order, so that every sum is the same float."""
    for cost in loose:
        costs = costs + cost
    return costs + fused


def _classes(counts: np.ndarray) -> np.ndarray:
    """Start of each run of equal tile counts (side 1, 2, ...)."""
    return np.flatnonzero(np.r_[True, counts[1:] != counts[:-1]])


class _Cells:
    """Granularities with their tile counts, flat, by tile count."""

    def __init__(
        self,
        w: np.ndarray,
        h: np.ndarray,
        nw: np.ndarray,
        nh: np.ndarray,
        x: np.ndarray,
    ) -> None:
        shape = (h.shape[0], w.shape[1])
        n = (nh * nw).ravel()
        order = np.argsort(n, kind="stable")
        self.n = n[order]
        # Cells grouped into buckets of tile counts: the least traffic
        # per bucket and its smallest count are enough (compute grows
        # with the count), and ops of one subgraph share the bucket.
        self.starts = _classes(_bucket(self.n))
        self.counts = self.n[self.starts]

        def flat(a: np.ndarray) -> np.ndarray:
            return np.broadcast_to(a, shape).ravel()[order]

        self.w, self.h = flat(w), flat(h)
        self.hw = self.w * self.h
        self.nw, self.nh, self.x = flat(nw), flat(nh), flat(x)


class TrafficBound:
    """The traffic-aware lower bound of one problem and rule profile."""

    def __init__(
        self, problem: Problem, rules: Rules, stop: float | None = None
    ) -> None:
        self.p = problem
        self.rules = rules
        self.stop = stop
        self._grids: dict[Shape, _Grid] = {}
        self._terms_cache: dict[
            tuple[object, ...], tuple[np.ndarray, np.ndarray] | None
        ] = {}
        self._f: dict[tuple[int, Label | None, bool], np.ndarray] = {}
        self._costed: dict[int, list[_Option]] = {}
        self._up: dict[tuple[int, int, Label, int], np.ndarray] = {}
        self._besides: dict[
            tuple[int, int, Label], list[tuple[_Option, np.ndarray]]
        ] = {}
        self._options: dict[
            tuple[int, tuple[int, str | None] | None, Label | None],
            list[_Option],
        ] = {}
        self._kinds: dict[int, int] = {}
        self._kind_of_signature: dict[tuple[object, ...], int] = {}
        self._asked: dict[int, dict[tuple[Shape, bool, bool], Shared]] = {}
        #: Keyed by kind of op, slot of the input and (grid, k-steps).
        self._readers: dict[tuple[int, int, Label2], list[_Option]] = {}

    # Static structure --------------------------------------------------

    def shape(self, t: int) -> Shape:
        """(width, height) of tensor t."""
        return self.p.widths[t], self.p.heights[t]

    def fusable(self, src: int, dst: int, t: int) -> bool:
        """Whether t, made by ``src``, can be ephemeral input of ``dst``."""
        return may_be_ephemeral(
            self.p, self.rules, src, t
        ) and can_pass_inside(self.p, self.rules, src, dst, t)

    @cached_property
    def grids_below(self) -> dict[int, frozenset[Shape]]:
        """Per op, the grids a subgraph holding it with every output of
        it ephemeral can have: output shapes of fusable consumers, and
        theirs in turn."""
        p = self.p
        below: dict[int, frozenset[Shape]] = {}
        for o in reversed(p.topological_order):
            found: set[Shape] = set()
            for c in self._fused_readers(o):
                found.update(self.shape(u) for u in p.outputs[c])
                if not (p.is_matmul[o] and p.is_matmul[c]):
                    found |= below[c]
                    continue
                # c would be a tail with its output ephemeral: read by a
                # Pointwise op, or by a MatMul, which makes c a middle:
                # one k-step and w = k = K for every MatMul (SPEC §4.7).
                for d in self._fused_readers(c):
                    if not p.is_matmul[d] or self._square(o, c, d):
                        found.update(self.shape(u) for u in p.outputs[d])
                        found |= below[d]
            below[o] = frozenset(found)
        return below

    def _fused_readers(self, o: int) -> list[int]:
        """Consumers that can read an output of o ephemerally."""
        p = self.p
        return [
            c
            for t in p.outputs[o]
            for c in p.consumers[t]
            if self.fusable(o, c, t)
        ]

    def _square(self, *ops: int) -> bool:
        """Whether MatMuls ``ops`` can form a chain of 3+ (w = k = K)."""
        ks = {self.p.k_op[o] for o in ops}
        return len(ks) == 1 and ks.pop() <= square_k(self.p, self.rules)

    @cached_property
    def parent(self) -> dict[int, tuple[int, int]]:
        """The exact edge of each op: (consumer, tensor), MatMul first."""
        p = self.p
        parent: dict[int, tuple[int, int]] = {}
        for o in range(p.num_ops):
            edges = [
                (c, t)
                for t in p.outputs[o]
                for c in p.consumers[t]
                if self.fusable(o, c, t)
            ]
            if edges:
                edges.sort(key=lambda e: (not p.is_matmul[e[0]], e[0]))
                parent[o] = edges[0]
        return parent

    @cached_property
    def slot(self) -> dict[tuple[int, int], int]:
        """Position of each input tensor among its reader's distinct
        inputs (as in Config.ins), by (reader, tensor)."""
        return {
            (o, t): i
            for o in range(self.p.num_ops)
            for i, t in enumerate(dict.fromkeys(self.p.inputs[o]))
        }

    @cached_property
    def edge_end(self) -> dict[int, tuple[int, str | None]]:
        """Per op with an exact edge, what its configurations must do to
        keep the edge's tensor ephemeral: that output's index, and the
        side a MatMul consumer reads a MatMul's output on (else None)."""
        p = self.p
        ends: dict[int, tuple[int, str | None]] = {}
        for o, (c, t) in self.parent.items():
            side = None
            if p.is_matmul[o] and p.is_matmul[c]:
                side = "lhs" if t == p.inputs[c][0] else "rhs"
            ends[o] = p.outputs[o].index(t), side
        return ends

    @cached_property
    def children(self) -> dict[int, list[tuple[int, int]]]:
        """Per op, the (producer, tensor) edges whose consumer it is."""
        kids: dict[int, list[tuple[int, int]]] = {}
        for o, (c, t) in self.parent.items():
            kids.setdefault(c, []).append((o, t))
        return kids

    @cached_property
    def weight(self) -> dict[tuple[int, int], float]:
        """Share of each (tensor, consumer) load charged to the consumer.

        The shares of the consumers of a tensor that can sit together in
        one subgraph sum to at most 1 (see :mod:`mlsched.model.payers`).
        """
        from mlsched.model.payers import load_shares

        return load_shares(self.p, self.rules)

    # Configurations -----------------------------------------------------

    def input_states(self, o: int, t: int) -> list[State]:
        """States an input tensor can have in o's appearance."""
        p = self.p
        src = p.producer.get(t)
        states = []
        if src is not None and self.fusable(src, o, t):
            states.append(State.EPH)
        if src is not None and p.sizes[t] < p.fast_memory_capacity:
            states.append(State.KEPT)
        states.append(State.LOAD)
        return states

    def output_states(self, o: int, t: int) -> list[tuple[State, str | None]]:
        """(state, feed side) pairs an output can have; see Config."""
        p = self.p
        found: set[tuple[State, str | None]] = set()
        for c in p.consumers[t]:
            if not self.fusable(o, c, t):
                continue
            if p.is_matmul[o] and p.is_matmul[c]:
                lhs, rhs = p.inputs[c]
                if lhs == rhs:
                    continue  # read on both sides: a fusion violation
                found.add((State.EPH, "lhs" if t == lhs else "rhs"))
            else:
                found.add((State.EPH, None))
        small = p.sizes[t] < p.fast_memory_capacity
        graph_out = t in p.graph_outputs
        # Keeping dominates evicting for the op itself.
        if small and not (graph_out and self.rules == "strict"):
            found.add((State.KEPT, None))
        else:
            found.add((State.EVICT, None))
        return sorted(found, key=lambda s: (s[0].value, s[1] or ""))

    def configs(self, o: int) -> Iterator[Config]:
        """Every configuration of op o worth costing."""
        p = self.p
        ins = list(dict.fromkeys(p.inputs[o]))
        in_opts = [self.input_states(o, t) for t in ins]
        out_opts = [self.output_states(o, t) for t in p.outputs[o]]
        for in_states in itertools.product(*in_opts):
            for outs in itertools.product(*out_opts):
                feeds = {f for _, f in outs if f is not None}
                if len(feeds) > 1:
                    continue
                feed = next(iter(feeds), None)
                states = tuple(s for s, _ in outs)
                kept = [
                    self.shape(t)
                    for t, s in zip(p.outputs[o], states)
                    if s is not State.EPH
                ]
                if kept:
                    if len(set(kept)) > 1:
                        continue
                    grids: frozenset[Shape] = frozenset(kept[:1])
                else:
                    grids = self.grids_below[o]
                for grid in sorted(grids):
                    for many in (False, True):
                        yield Config(in_states, states, feed, grid, many)

    # Costs --------------------------------------------------------------

    def grid(self, shape: Shape) -> _Grid:
        """The cached tile-count arrays of a grid."""
        if shape not in self._grids:
            self._grids[shape] = _Grid(shape, self.p.native_granularity)
        return self._grids[shape]

    def cost(self, o: int, cfg: Config) -> _Option | None:
        """Op o in ``cfg`` with its terms and costs; None if no
        granularity is valid."""
        from mlsched.model.terms import op_terms

        terms = op_terms(self, o, cfg)
        return None if terms is None else self.option(cfg, terms)

    def option(self, cfg: Config, terms: Terms) -> _Option | None:
        """``cfg`` costed with ``terms``; None if no granularity fits."""
        key = terms.priced()
        if key not in self._terms_cache:
            moved = self._evaluate(terms)
            costs = None
            if np.isfinite(moved).any():
                table = self.table(terms, moved)
                costs = table.min(axis=1), table
            self._terms_cache[key] = costs
        costs = self._terms_cache[key]
        return None if costs is None else _Option(cfg, terms, *costs)

    def table(self, terms: Terms, moved: np.ndarray) -> np.ndarray:
        """Weighted compute plus transfer per weight row (rows) and
        tile-count bucket (columns): infinite where nothing fits."""
        # Both cell sets have the same tile counts, hence buckets.
        counts = self.grid(terms.grid).classes.counts
        ok = np.isfinite(moved)
        bw = self.p.slow_memory_bandwidth
        compute = terms.base * counts
        # w * compute + (1 - w) * transfer = w * (compute - transfer)
        # + transfer, per weight w of a row.
        if not terms.many:
            transfer = np.where(ok, moved, 0.0) / bw
            values = np.outer(ONE, compute - transfer) + transfer
            return np.where(ok, values, np.inf)
        # Several k-steps: k-step 0 moves the step-0 part of m0 and a
        # share f of the per-step traffic, the last k-step the stores
        # and a share g, the middle ones the rest; compute splits by the
        # same shares (inequality (17)), least at a corner (f, g).
        per_step = np.where(ok, moved - terms.m0, 0.0) / bw
        step0 = (terms.m0 - terms.stores) / bw
        stores = terms.stores / bw
        f, g = np.array(terms.ends).T[:, :, None]  # corners x buckets
        first = step0 + f * per_step
        mid = (1 - f - g) * per_step
        last = stores + g * per_step
        # (FIRST, MID, LAST) @ (weighted compute - transfer), per corner.
        gain = np.stack(
            [
                f * compute - first,
                (1 - f - g) * compute - mid,
                g * compute - last,
            ]
        )
        values = np.einsum("rk,kcb->rcb", _CLASSES, gain) + (
            first + mid + last
        )
        return np.where(ok, values.min(axis=1), np.inf)

    def _evaluate(self, tm: Terms) -> np.ndarray:
        """Least traffic (elements) per tile-count bucket over the
        granularities whose working set fits; inf where none does."""
        grid = self.grid(tm.grid)
        plain = tm.w_min == tm.h_min == 1 and not (tm.w_eq or tm.m_x)
        g = grid.classes if plain else grid.every
        ws = tm.ws_hw * g.hw
        if tm.ws_h:
            ws = ws + tm.ws_h * g.h
        if tm.ws_w:
            ws = ws + tm.ws_w * g.w
        ok = ws <= self.p.fast_memory_capacity - tm.ws0
        if tm.w_min > 1:
            ok &= g.w >= tm.w_min
        if tm.h_min > 1:
            ok &= g.h >= tm.h_min
        if tm.w_eq:
            ok &= g.w == tm.w_eq
        moved = np.zeros_like(g.n)
        for coef, arr in (
            (tm.m_nw, g.nw),
            (tm.m_nh, g.nh),
            (tm.m_n, g.n),
            (tm.m_x, g.x),
        ):
            if coef:
                moved = moved + coef * arr
        best: np.ndarray = np.minimum.reduceat(
            np.where(ok, moved, np.inf), g.starts
        )
        return tm.m0 + best

    # Dynamic programme over the forest of exact edges --------------------

    def best(
        self, o: int, fused: Label | None, no_matmul: bool = False
    ) -> np.ndarray:
        """Cheapest cost of op o and the subtree of ops below it.

        ``fused``: the exact edge to o's consumer is ephemeral in that
        consumer's appearance, on this grid, with this many k-steps and
        these ops above (o's appearance is then that one), and the cost
        is per weight row and tile-count bucket (rows, columns);
        ``None``: no constraint, per weight row. ``no_matmul``: no
        MatMul among o and the ops fused below it (inequality (18)).
        """
        key = (o, fused, no_matmul)
        if key not in self._f:
            if no_matmul and self.p.is_matmul[o]:
                size = len(self.grid(fused[0]).classes.counts) if fused else 0
                shape = (len(PROFILES), size) if fused else len(PROFILES)
                self._f[key] = np.full(shape, np.inf)
            else:
                self._f[key] = self._best(o, fused, no_matmul)
        return self._f[key]

    def options(self, o: int, fused: Label | None) -> list[_Option]:
        """The configurations of o that ``fused`` allows, each costed
        with the working set and rules of the ops fused above."""
        # Ops of one kind whose exact edges leave alike have the same.
        key = (self.kind(o), self.edge_end.get(o), fused)
        if key not in self._options:
            self._options[key] = self._allowed(o, fused)
        return self._options[key]

    def _allowed(self, o: int, fused: Label | None) -> list[_Option]:
        found = self.costed(o)
        if fused is None:
            return found
        if o not in self.edge_end:
            return []
        pos, side = self.edge_end[o]
        found = [
            x
            for x in found
            if (x.cfg.grid, x.cfg.many) == fused[:2]
            and x.cfg.outs[pos] is State.EPH
            and side in (None, x.cfg.feed)
        ]
        up = fused[2]
        if up == NOTHING:
            return found
        kept = []
        for x in found:
            option = self.option(x.cfg, x.terms.plus(up))
            if option is not None:
                kept.append(option)
        return kept

    def _below(self, o: int, src: int, t: int, x: _Option) -> Label | None:
        """The label x gives the exact edge from ``src`` (on tensor t):
        fused on x's grid if t is ephemeral there."""
        if x.cfg.ins[self.slot[o, t]] is not State.EPH:
            return None
        return x.cfg.grid, x.cfg.many, x.terms.shared()

    def _best(
        self, o: int, fused: Label | None, no_matmul: bool
    ) -> np.ndarray:
        found = self.options(o, fused)
        batches = self._batches(o, found)
        # Adding a cost rounds monotonically, so the least over options
        # or buckets can be taken before adding the subtrees' costs
        # that do not depend on them: the result is the same float.
        if fused is not None:
            size = len(self.grid(fused[0]).classes.counts)
            result = np.full((len(PROFILES), size), np.inf)
            for key, which in batches.items():
                loose, kids = self._kids(o, *key, False, no_matmul)
                table = functools.reduce(
                    np.minimum, [found[i].table for i in which]
                )
                costs = _plus(table, [c[:, None] for c in loose], kids)
                np.minimum(result, costs, out=result)
            return result
        if not found:
            return np.full(len(PROFILES), np.inf)
        rows = np.empty((len(found), len(PROFILES)))
        for key, which in batches.items():
            loose, kids = self._kids(o, *key, True, False)
            if isinstance(kids, float):  # nothing per bucket to add
                values = np.stack([found[i].value for i in which])
                rows[which] = _plus(values, loose, kids)
                continue
            tables = np.stack([found[i].table for i in which])
            costs = _plus(tables, [c[:, None] for c in loose], kids)
            rows[which] = costs.min(axis=2)
        total = rows + self._second_reader(o, found)
        least: np.ndarray = total.min(axis=0)
        return least

    def _batches(
        self, o: int, found: list[_Option]
    ) -> dict[tuple[tuple[bool, ...], Label2], list[int]]:
        """Indices into ``found`` grouped by what the subtrees below o
        depend on (see :meth:`_kids`): which exact children's tensors o
        reads ephemerally, its grid and k-step count."""
        slots = [self.slot[o, t] for _, t in self.children.get(o, [])]
        batches: dict[tuple[tuple[bool, ...], Label2], list[int]] = {}
        for i, x in enumerate(found):
            eph = tuple(x.cfg.ins[k] is State.EPH for k in slots)
            key = (eph, (x.cfg.grid, x.cfg.many))
            batches.setdefault(key, []).append(i)
        return batches

    def _kids(
        self,
        o: int,
        eph: tuple[bool, ...],
        where: Label2,
        free: bool,
        no_matmul: bool,
    ) -> tuple[list[np.ndarray], _Sum]:
        """Cost of the best subtrees below o, in an appearance of o on
        ``where``'s grid and k-step count that reads its exact children's
        tensors ephemerally or not as ``eph`` says: the costs of the
        children not fused, each per weight row; and the least sum of
        the fused ones, per weight row and bucket.
        ``free``: o's own exact edge is not fused; ``no_matmul``: no
        MatMul may sit in the fused subtrees below."""
        is_matmul = self.p.is_matmul
        loose = []
        fused: list[tuple[np.ndarray, np.ndarray | None]] = []
        for (src, _), ephemeral in zip(self.children.get(o, []), eph):
            if not ephemeral:
                loose.append(self.best(src, None))
                continue
            label = (*where, self._asked[src][(*where, free)])
            if not where[1]:
                fused.append((self.best(src, label), None))
            elif is_matmul[o] and is_matmul[src]:
                # o's head: a MatMul beside o only if it feeds o.
                fused.append((self.best(src, label, no_matmul), None))
            elif is_matmul[o] or no_matmul:
                fused.append((self.best(src, label, True), None))
            else:
                fused.append(
                    (self.best(src, label, True), self.best(src, label))
                )
        return loose, _at_most_one(fused)

    def _second_reader(self, o: int, found: list[_Option]) -> np.ndarray:
        """Extra cost of configurations that keep the exact edge's tensor
        ephemeral although its only reader's appearance does not: that
        reader then has another appearance in o's subgraph, charged to
        nobody (docs/lower-bound.md, §5 and inequality (14)). Where the
        reader has m exact children, each of which may claim one such
        appearance (and several may share it), each charges 1/m of it
        (inequality (20))."""
        edge = self.parent.get(o)
        extra = np.zeros((len(found), len(PROFILES)))
        if edge is None:
            return extra
        c, t = edge
        if self.p.consumers[t] != (c,):
            return extra
        share = 1.0 / len(self.children[c])
        pos = self.p.outputs[o].index(t)
        for i, x in enumerate(found):
            if x.cfg.outs[pos] is State.EPH:
                label = (x.cfg.grid, x.cfg.many, x.terms.shared())
                extra[i] = share * self._uncharged(c, t, label, CHAIN)
        return extra

    def _uncharged(
        self, c: int, t: int, label: Label, depth: int
    ) -> np.ndarray:
        """Least cost of an appearance of c, charged to nobody, in a
        subgraph where t is ephemeral with ``label``'s grid, k-steps and
        op below; and, ``depth`` steps up the exact edges, of the
        appearances of c's only readers it forces in turn (each beside
        that op's working-set terms)."""
        key = (c, t, label, depth)
        if key in self._up:
            return self._up[key]
        best = np.full(len(PROFILES), np.inf)
        edge = self.parent.get(c)
        out = -1
        if depth > 0 and edge is not None and self._sole(c, *edge):
            out = self.p.outputs[c].index(edge[1])
        for y, value in self._beside(c, t, label):
            if edge is not None and out >= 0 and y.cfg.outs[out] is State.EPH:
                # o's terms only: c's would make a label per
                # configuration of c, and dropping them is safe.
                value = value + self._uncharged(*edge, label, depth - 1)
            best = np.minimum(best, value)
        self._up[key] = best
        return best

    def _beside(
        self, c: int, t: int, label: Label
    ) -> list[tuple[_Option, np.ndarray]]:
        """The configurations of c that read t ephemerally on
        ``label``'s grid and k-step count, each with its value per
        weight row beside the ops of ``label``. Kept per kind of op
        (and t's slot): :meth:`_uncharged` asks for the same ones at
        several depths, and repeated layers for the same ones on other
        ops."""
        key = (self.kind(c), self.slot[c, t], label)
        if key not in self._besides:
            found = []
            for y in self._reading(c, t, label[:2]):
                option = self.option(y.cfg, y.terms.plus(label[2]))
                if option is not None:
                    found.append((y, option.value))
            self._besides[key] = found
        return self._besides[key]

    def _sole(self, o: int, c: int, t: int) -> bool:
        """Whether c is t's only reader and o c's only exact child: then
        an appearance of c that reads t ephemerally beside o, and is not
        A(c), is charged by o's rule alone (no other op's)."""
        return self.p.consumers[t] == (c,) and self.children[c] == [(o, t)]

    def _reading(self, c: int, t: int, where: Label2) -> list[_Option]:
        """c's configurations reading t ephemerally on that grid and
        k-step count."""
        pos = self.slot[c, t]
        key = (self.kind(c), pos, where)
        if key not in self._readers:
            self._readers[key] = [
                y
                for y in self.costed(c)
                if y.cfg.ins[pos] is State.EPH
                and (y.cfg.grid, y.cfg.many) == where
            ]
        return self._readers[key]

    def costed(self, o: int) -> list[_Option]:
        """Every configuration of o some granularity makes valid, with
        its cost (computed once per op)."""
        key = self.kind(o)
        if key not in self._costed:
            found = []
            for cfg in self.configs(o):
                option = self.cost(o, cfg)
                if option is not None:
                    found.append(option)
            self._costed[key] = found
        return self._costed[key]

    def kind(self, o: int) -> int:
        """A number shared by the ops of equal :meth:`_signature` (whose
        costed configurations are equal), and by no other op."""
        if o not in self._kinds:
            kinds = self._kind_of_signature
            self._kinds[o] = kinds.setdefault(self._signature(o), len(kinds))
        return self._kinds[o]

    def _signature(self, o: int) -> tuple[object, ...]:
        """Everything :meth:`configs` and :meth:`cost` read about op o:
        ops with equal signatures have equal costed configurations."""
        p = self.p
        ins = list(dict.fromkeys(p.inputs[o]))
        return (
            p.is_matmul[o],
            p.base_costs[o],
            p.k_op[o],
            tuple(ins.index(t) for t in p.inputs[o]),
            tuple(
                (
                    self.shape(t),
                    None
                    if t not in p.producer
                    else p.is_matmul[p.producer[t]],
                    tuple(self.input_states(o, t)),
                    self.weight.get((t, o), 0.0),
                )
                for t in ins
            ),
            tuple(
                (self.shape(t), tuple(self.output_states(o, t)))
                for t in p.outputs[o]
            ),
            self.grids_below[o],
            self._partners(o, ins),
        )

    def _partners(self, o: int, ins: list[int]) -> tuple[bool, ...]:
        """Which inputs of o a MatMul reader of o's outputs reads, and
        which the producer of each input reads: what the load shares
        of several k-steps depend on (see terms._share)."""
        p = self.p
        readers = {c for u in p.outputs[o] for c in p.consumers[u]}
        flags = [any(t in p.inputs[c] for c in readers) for t in ins]
        for u in ins:
            src = p.producer.get(u)
            flags += [src is not None and t in p.inputs[src] for t in ins]
        return tuple(flags)

    def value(self) -> float:
        """The bound: the best weight row of the forest's optimum."""
        p = self.p
        # Consumers first, the labels each op will be asked for; then
        # producers first, so that the recursion of best() stays one
        # level deep on long chains.
        # All the labels of one grid and k-step count are merged into
        # what they all impose, so that an op has few labels.
        asked = self._asked
        for c in reversed(p.topological_order):
            self._check_time()
            mine = [(g, m, up) for (g, m, _), up in asked.get(c, {}).items()]
            for lab in [None, *mine]:
                for x in self.options(c, lab):
                    for src, t in self.children.get(c, []):
                        below = self._below(c, src, t, x)
                        if below is None:
                            continue
                        seen = asked.setdefault(src, {})
                        key = (*below[:2], lab is None)
                        up = seen.get(key)
                        seen[key] = (
                            below[2] if up is None else up.meet(below[2])
                        )
        total = np.zeros(len(PROFILES))
        for o in p.topological_order:
            self._check_time()
            for (grid, many, _), up in asked.get(o, {}).items():
                self.best(o, (grid, many, up))
            value = self.best(o, None)
            if o not in self.parent:
                total += value
        # The saved stores are at the last k-step: a cell of one k-step
        # or the last of several.
        total -= (1 - np.minimum(ONE, LAST)) * self._last_subgraph_saving()
        best = float(total.max())
        # Rounded down a little, so that float rounding never lifts it
        # above a schedule that meets it.
        return best * (1 - 1e-12) if math.isfinite(best) else 0.0

    def _check_time(self) -> None:
        if self.stop is not None and time.perf_counter() >= self.stop:
            raise OutOfTime("the traffic bound passed its stop")

    def _last_subgraph_saving(self) -> float:
        """Contest: transfer time the last subgraph saves by keeping its
        outputs (all of one shape) instead of writing them: graph
        outputs, and tensors read before they were made (the contest
        rules do not check that an input read from slow memory was
        written there), so any produced tensor too large to keep. A
        subgraph holding a MatMul of K above w_native holds two MatMuls
        at most (:mod:`mlsched.model.chains`): of the tensors such
        MatMuls make, those of the two that make the most of a shape
        count."""
        p = self.p
        if self.rules != "contest":
            return 0.0
        other: dict[Shape, int] = {}
        deep: dict[Shape, dict[int, int]] = {}
        for t, o in p.producer.items():
            size, shape = p.sizes[t], self.shape(t)
            if size < p.fast_memory_capacity:
                continue
            if p.is_matmul[o] and p.k_op[o] > square_k(p, self.rules):
                made = deep.setdefault(shape, {})
                made[o] = made.get(o, 0) + size
            else:
                other[shape] = other.get(shape, 0) + size
        most = max(
            (
                other.get(shape, 0)
                + sum(sorted(deep.get(shape, {}).values())[-2:])
                for shape in other.keys() | deep.keys()
            ),
            default=0,
        )
        return most / p.slow_memory_bandwidth


class OutOfTime(Exception):
    """The traffic bound's stop passed before it was done."""


def traffic_bound(
    problem: Problem, rules: Rules = "strict", stop: float | None = None
) -> float:
    """The traffic-aware lower bound (see :class:`TrafficBound`).

    Raises
    ------
    OutOfTime
        If ``stop`` (a ``time.perf_counter()`` instant) passes first.
    """
    return TrafficBound(problem, rules, stop).value()
