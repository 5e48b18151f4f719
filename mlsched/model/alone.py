"""MatMuls that can only run alone, with several k-steps (strict profile).

Take a MatMul o whose K exceeds k_native and whose inputs no MatMul
makes. In every strict subgraph where it does not head a chain (always,
when no MatMul reads its outputs) it is standalone (SPEC §3) with
⌈K/k⌉ ≥ 2 k-steps (§8 item 1: k ≤ k_native), so it is the only MatMul
there: §4 item 7 allows at most one standalone with several k-steps and
does not mix it with a head and a tail, and with one k-step three
MatMuls would need K = k. The other ops of its
subgraph are Pointwise and compute at k-step 0 only, so every later cell
computes o's share base·k_eff/K and nothing else, while it loads o's
operand slices afresh (their keys name the k-step, §5.2), unless the
operand is kept or ephemeral. A graph input is neither; a produced
tensor of at least the capacity is never kept (§6), and it cannot be
ephemeral either when K exceeds the native side its slice spans (only
a Pointwise op can make it there, and §4 item 7 then needs w ≥ K for a
left operand, h ≥ K for a right one). The last cell also stores every
evicted output; each output of the subgraph has the grid's shape
(§4 item 8), and one of at least the capacity, or a graph output, is
evicted (§6, §8 item 4); a last subgraph may keep one, but if o runs
only there, every reader of o's output runs there too (so no MatMul
reads it), down to a graph output of that shape, which it evicts.

So past its first cell each tile of o costs at least its compute plus
an excess no schedule avoids (docs/lower-bound.md §1b).
:func:`alone_floor` is the least compute plus excess of o over every
grid it can run on alone and every tile size; :func:`heading_floor` its
least compute where it heads a chain. An appearance of o is one or the
other, so it costs at least the smaller.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

from mlsched.model.fusible import can_pass_inside, may_be_ephemeral
from mlsched.model.problem import Problem


class _Grid(NamedTuple):
    """A grid o can run on, and whether an output of that shape is
    always evicted."""

    width: int
    height: int
    evicted: bool


class _Op(NamedTuple):
    """What o's excess depends on besides the grid."""

    base: float
    k: int
    #: Whether the left (right) operand is loaded at every k-step.
    left: bool
    right: bool


def runs_alone(problem: Problem, o: int) -> bool:
    """Whether ``o`` is a MatMul that is standalone with several k-steps,
    and the only MatMul, in every strict subgraph where it does not head
    a chain (see the module docstring)."""
    p = problem
    if not p.is_matmul[o] or p.k_op[o] <= p.k_native:
        return False
    return not any(
        t in p.producer and p.is_matmul[p.producer[t]] for t in p.inputs[o]
    )


def alone_floor(problem: Problem, o: int) -> float:
    """The least compute plus unavoidable excess of ``o``, a MatMul for
    which :func:`runs_alone` holds, in any strict subgraph where it does
    not head a chain."""
    p = problem
    left, right = p.inputs[o]
    op = _Op(
        float(p.base_costs[o]),
        p.k_op[o],
        _loaded(p, left, p.k_op[o] > p.native_granularity[0]),
        _loaded(p, right, p.k_op[o] > p.native_granularity[1]),
    )
    return min(
        _least(
            grid,
            op,
            float(p.slow_memory_bandwidth),
            tuple(p.native_granularity),
            p.k_native,
        )
        for grid in _grids(p, o)
    )


def heading_floor(problem: Problem, o: int) -> float:
    """The least compute of MatMul ``o`` heading a chain in a strict
    subgraph (inf if no MatMul reads its output there).

    Its base cost on every tile of the grid. With K above k_native o
    makes such a subgraph hold exactly two MatMuls (one k-step needs the
    tail's K at most k_native, and three MatMuls would need o's K = k),
    so the grid is the shape of the tail's output or of a tensor
    Pointwise ops make from it: at least the fewest native tiles of
    those.
    """
    p = problem
    tails = {
        c
        for t in p.outputs[o]
        for c in p.consumers[t]
        if p.is_matmul[c]
        and may_be_ephemeral(p, "strict", o, t)
        and can_pass_inside(p, "strict", o, c, t)
    }
    w_native, h_native = p.native_granularity
    tiles = [
        -(-g.width // w_native) * -(-g.height // h_native)
        for c in tails
        for g in _grids(p, c)
    ]
    return p.base_costs[o] * min(tiles) if tiles else math.inf


def _loaded(p: Problem, t: int, beyond_side: bool) -> bool:
    """Whether operand ``t`` is loaded at every k-step: never kept and
    never ephemeral (``beyond_side``: K exceeds the native side its slice
    spans)."""
    if t not in p.producer:
        return True
    return beyond_side and p.sizes[t] >= p.fast_memory_capacity


def _grids(p: Problem, o: int) -> set[_Grid]:
    """Every grid a subgraph holding ``o`` can have: the shape of o's
    output or of a tensor Pointwise ops make from it, since the other
    ops of such a subgraph are Pointwise and an ephemeral output's
    readers are inside it, down to an output of the subgraph."""
    grids: set[_Grid] = set()
    todo = list(p.outputs[o])
    seen = set(todo)
    while todo:
        t = todo.pop()
        evicted = t in p.graph_outputs or p.sizes[t] >= p.fast_memory_capacity
        grids.add(_Grid(p.widths[t], p.heights[t], evicted))
        for c in p.consumers[t]:
            for u in p.outputs[c]:
                if not p.is_matmul[c] and u not in seen:
                    seen.add(u)
                    todo.append(u)
    return grids


@functools.lru_cache(maxsize=4096)
def _least(
    grid: _Grid,
    op: _Op,
    bandwidth: float,
    native: tuple[int, int],
    k_native: int,
) -> float:
    """Least base·tiles plus excess over every tile w × h of ``grid``."""
    h = np.arange(1, min(native[1], grid.height) + 1, dtype=float)[:, None]
    w = np.arange(1, min(native[0], grid.width) + 1, dtype=float)[None, :]
    rows, h_rem = np.divmod(grid.height, h)
    cols, w_rem = np.divmod(grid.width, w)

    def excess(hh: np.ndarray, ww: np.ndarray) -> np.ndarray:
        # One tile's cells after the first (docs/lower-bound.md §1b).
        slope = (op.left * hh + op.right * ww) / bandwidth - op.base / op.k
        store = grid.evicted * hh * ww / bandwidth
        out: np.ndarray = np.where(
            slope >= 0,
            slope * (op.k - k_native) + store,
            np.maximum(0.0, slope * k_native + store),
        )
        return out

    total = (
        rows * cols * excess(h, w)
        + rows * (w_rem > 0) * excess(h, w_rem)
        + (h_rem > 0) * cols * excess(h_rem, w)
        + (h_rem > 0) * (w_rem > 0) * excess(h_rem, w_rem)
    )
    tiles = (rows + (h_rem > 0)) * (cols + (w_rem > 0))
    return float(np.min(op.base * tiles + total))
