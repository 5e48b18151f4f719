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
[0, 1]; the bound is the best ``theta`` of a grid.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from functools import cached_property

import numpy as np

from mlsched.model.fusible import can_pass_inside
from mlsched.model.problem import Problem
from mlsched.model.types import Rules

#: The ``theta`` values tried (any value in [0, 1] gives a valid bound).
THETAS = np.linspace(0.0, 1.0, 21)

Shape = tuple[int, int]  # (width, height)
Label = tuple[Shape, bool]  # a fused edge's grid and "several k-steps"


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
    and, if set, ``w == w_eq``.
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
        # Cells grouped by tile count: min traffic per count is enough,
        # since compute depends on the count alone.
        flat = self.n.ravel()
        self.order = np.argsort(flat, kind="stable")
        ordered = flat[self.order]
        self.starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        self.counts = ordered[self.starts]


class TrafficBound:
    """The traffic-aware lower bound of one problem and rule profile."""

    def __init__(self, problem: Problem, rules: Rules) -> None:
        self.p = problem
        self.rules = rules
        self._grids: dict[Shape, _Grid] = {}
        self._terms_cache: dict[Terms, np.ndarray] = {}
        self._f: dict[tuple[int, Label | None], np.ndarray] = {}
        self._costed: dict[
            tuple[object, ...], list[tuple[Config, np.ndarray]]
        ] = {}

    # Static structure --------------------------------------------------

    def shape(self, t: int) -> Shape:
        """(width, height) of tensor t."""
        return self.p.widths[t], self.p.heights[t]

    def fusable(self, src: int, dst: int, t: int) -> bool:
        """Whether t, made by ``src``, can be ephemeral input of ``dst``."""
        return t not in self.p.graph_outputs and can_pass_inside(
            self.p, self.rules, src, dst, t
        )

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
        p = self.p
        ks = {p.k_op[o] for o in ops}
        top = p.native_granularity[0]
        if self.rules == "strict":
            top = min(top, p.k_native)
        return len(ks) == 1 and ks.pop() <= top

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

    def cost(self, o: int, cfg: Config) -> np.ndarray | None:
        """min over granularities of theta*compute + (1-theta)*transfer,
        per theta of :data:`THETAS`; None if no granularity is valid."""
        from mlsched.model.terms import op_terms

        terms = op_terms(self, o, cfg)
        if terms is None:
            return None
        if terms not in self._terms_cache:
            self._terms_cache[terms] = self._evaluate(terms)
        value = self._terms_cache[terms]
        return None if not np.isfinite(value[0]) else value

    def _evaluate(self, tm: Terms) -> np.ndarray:
        g = self.grid(tm.grid)
        ws = tm.ws0 + tm.ws_h * g.h + tm.ws_w * g.w + tm.ws_hw * g.h * g.w
        ok = ws <= self.p.fast_memory_capacity
        ok = ok & (g.w >= tm.w_min) & (g.h >= tm.h_min)
        if tm.w_eq:
            ok = ok & (g.w == tm.w_eq)
        moved = tm.m0 + tm.m_nw * g.nw + tm.m_nh * g.nh
        moved = moved + tm.m_n * g.n + tm.m_x * g.x
        moved = np.where(ok, moved, np.inf).ravel()[g.order]
        best = np.minimum.reduceat(moved, g.starts)
        keep = np.isfinite(best)
        if not keep.any():
            return np.full(len(THETAS), np.inf)
        compute = tm.base * g.counts[keep]
        transfer = best[keep] / self.p.slow_memory_bandwidth
        values = np.outer(THETAS, compute) + np.outer(1 - THETAS, transfer)
        result: np.ndarray = values.min(axis=1)
        return result

    # Dynamic programme over the forest of exact edges --------------------

    def best(self, o: int, fused: Label | None) -> np.ndarray:
        """Cheapest cost of op o and the subtree of ops below it.

        ``fused``: the exact edge to o's consumer is ephemeral in that
        consumer's appearance, on this grid and with this many k-steps
        (o's appearance is then that one); ``None``: no constraint.
        """
        key = (o, fused)
        if key not in self._f:
            self._f[key] = self._best(o, fused)
        return self._f[key]

    def _best(self, o: int, fused: Label | None) -> np.ndarray:
        found = self.costed(o)
        if fused is not None:
            edge = self.parent.get(o)
            found = [
                (cfg, v)
                for cfg, v in found
                if self._fits_parent(o, cfg, edge, fused)
            ]
        if not found:
            return np.full(len(THETAS), np.inf)
        total = np.stack([v for _, v in found])
        if fused is None:
            total += self._second_reader(o, found)
        ins = list(dict.fromkeys(self.p.inputs[o]))
        for src, t in self.children.get(o, []):
            pos = ins.index(t)
            # A configuration with t ephemeral fuses the edge on its grid.
            labels = [
                (cfg.grid, cfg.many) if cfg.ins[pos] is State.EPH else None
                for cfg, _ in found
            ]
            below = {lab: self.best(src, lab) for lab in set(labels)}
            total += np.stack([below[lab] for lab in labels])
        result: np.ndarray = total.min(axis=0)
        return result

    def _second_reader(
        self, o: int, found: list[tuple[Config, np.ndarray]]
    ) -> np.ndarray:
        """Extra cost of configurations that keep the exact edge's tensor
        ephemeral although its only reader's appearance does not: that
        reader then has another appearance, at least its cheapest."""
        edge = self.parent.get(o)
        extra = np.zeros((len(found), len(THETAS)))
        if edge is None:
            return extra
        c, t = edge
        if self.p.consumers[t] != (c,):
            return extra
        pos = self.p.outputs[o].index(t)
        cheapest = np.min(np.stack([v for _, v in self.costed(c)]), axis=0)
        for i, (cfg, _) in enumerate(found):
            if cfg.outs[pos] is State.EPH:
                extra[i] = cheapest
        return extra

    def costed(self, o: int) -> list[tuple[Config, np.ndarray]]:
        """Every configuration of o some granularity makes valid, with
        its cost (computed once per op)."""
        key = self._signature(o)
        if key not in self._costed:
            found = []
            for cfg in self.configs(o):
                value = self.cost(o, cfg)
                if value is not None:
                    found.append((cfg, value))
            self._costed[key] = found
        return self._costed[key]

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
        )

    def _fits_parent(
        self,
        o: int,
        cfg: Config,
        edge: tuple[int, int] | None,
        fused: Label,
    ) -> bool:
        if edge is None or (cfg.grid, cfg.many) != fused:
            return False
        c, t = edge
        p = self.p
        if cfg.outs[p.outputs[o].index(t)] is not State.EPH:
            return False
        if p.is_matmul[o] and p.is_matmul[c]:
            side = "lhs" if t == p.inputs[c][0] else "rhs"
            return cfg.feed == side
        return True

    def value(self) -> float:
        """The bound: the best theta of the forest's optimum."""
        p = self.p
        total = np.zeros(len(THETAS))
        # Producers first, every label their consumer may ask for, so the
        # recursion of best() stays one level deep on long chains.
        for o in p.topological_order:
            edge = self.parent.get(o)
            if edge is None:
                total += self.best(o, None)
                continue
            c, t = edge
            pos = list(dict.fromkeys(p.inputs[c])).index(t)
            for cfg, _ in self.costed(c):
                if cfg.ins[pos] is State.EPH:
                    self.best(o, (cfg.grid, cfg.many))
            self.best(o, None)
        total -= (1 - THETAS) * self._last_subgraph_saving()
        best = float(total.max())
        # Rounded down a little, so that float rounding never lifts it
        # above a schedule that meets it.
        return best * (1 - 1e-12) if math.isfinite(best) else 0.0

    def _last_subgraph_saving(self) -> float:
        """Contest: transfer time the last subgraph saves by keeping big
        graph outputs (all of one shape) instead of writing them."""
        p = self.p
        if self.rules != "contest":
            return 0.0
        by_shape: dict[Shape, int] = {}
        for t in p.graph_outputs:
            if p.sizes[t] >= p.fast_memory_capacity:
                by_shape[self.shape(t)] = (
                    by_shape.get(self.shape(t), 0) + p.sizes[t]
                )
        most = max(by_shape.values(), default=0)
        return most / p.slow_memory_bandwidth


def traffic_bound(problem: Problem, rules: Rules = "strict") -> float:
    """The traffic-aware lower bound (see :class:`TrafficBound`)."""
    return TrafficBound(problem, rules).value()
