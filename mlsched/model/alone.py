"""Ops that can only run alone, in the strict profile: MatMuls with
several k-steps, Pointwise ops no other op can join
(:func:`pointwise_floor`), and what a MatMul's operands made by two
MatMuls of the first kind cost (:func:`pair_surplus`), and what a
Pointwise op whose two inputs come from two of them costs
(:func:`path_surplus`).

Take a MatMul o whose K exceeds k_native and whose inputs no MatMul
makes. In every strict subgraph where it does not head a chain (always,
when no MatMul reads its outputs) it is standalone (SPEC §3) with
⌈K/k⌉ ≥ 2 k-steps (§8 item 1: k ≤ k_native), so it is the only MatMul
there: §4 item 7 allows at most one standalone with several k-steps and
does not mix it with a head and a tail, and with one k-step three
MatMuls would need K = k. The other ops of its subgraph are Pointwise
and compute at k-step 0 only, so every later cell computes o's share
base·k_eff/K and nothing else, while it loads o's operand slices afresh
(their keys name the k-step, §5.2), unless the operand is kept or
ephemeral. A graph input is neither; a produced
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
grid it can run on alone and every tile size; :func:`heading_floor` the
same where it heads a chain (its tail's compute shares those cells). An
appearance of o is one or the other, so it costs at least the smaller.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

from mlsched.model.chains import (
    Chains,
    Shape,
    pointwise_shapes,
    shape_tiles,
)
from mlsched.model.fusible import can_pass_inside
from mlsched.model.problem import Problem


class _Cells(NamedTuple):
    """A tile's cells after the first, per unit of k: the elements they
    surely load (per row and per column of the tile, and a fixed part)
    and the compute of every MatMul in them."""

    #: o's compute per tile, and the depth the k-steps add up to.
    base: float
    depth: int
    rows: float
    cols: float
    fixed: float
    compute: float
    #: What the other ops of a tile's first cell may hide of its loads:
    #: per op, its compute and the slices it surely loads there (None:
    #: it may hide them all).
    company: tuple[tuple[float, int], ...] | None = None
    #: The compute of Pointwise ops surely in the first cell and the
    #: slices they surely load there between them (:func:`path_surplus`).
    forced: tuple[float, int] = (0.0, 0)


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


def alone_floor(
    problem: Problem, o: int, chains: Chains | None = None
) -> float:
    """The least compute plus unavoidable excess of ``o``, a MatMul for
    which :func:`runs_alone` holds, in any strict subgraph where it does
    not head a chain (``chains``: the problem's strict
    :class:`~mlsched.model.chains.Chains`, if already built)."""
    chains = Chains(problem, "strict") if chains is None else chains
    grids = pointwise_shapes(problem, o, chains.past)
    return min(_alone_on(problem, o, grid, chains) for grid in grids)


def _alone_on(p: Problem, o: int, grid: Shape, chains: Chains) -> float:
    """:func:`alone_floor` on one grid."""
    cells = _alone_cells(p, o)
    company = _company(p, o, grid, chains, _most_seen(p, grid, cells))
    return _least(p, grid, cells._replace(company=company))


def _alone_cells(p: Problem, o: int) -> _Cells:
    """The cells of ``o`` running alone: both operands load a k-slice at
    every k-step unless kept or ephemeral."""
    left, right = p.inputs[o]
    k = p.k_op[o]
    return _Cells(
        base=float(p.base_costs[o]),
        depth=k,
        rows=float(_loaded(p, left, k > p.native_granularity[0])),
        cols=float(_loaded(p, right, k > p.native_granularity[1])),
        fixed=0.0,
        compute=p.base_costs[o] / k,
    )


def pair_surplus(
    problem: Problem,
    c: int,
    floors: list[float],
    claimed: list[float],
    chains: Chains,
) -> float:
    """What MatMul ``c``'s two operands cost above ``floors`` where both
    are made by MatMuls that run alone and that only c reads
    (docs/lower-bound.md §1d); else 0.

    Those makers never share a subgraph, so at most one of them runs in
    the subgraph before c's and keeps its output for it: the other heads
    c (then it pays :func:`heading_floor`) or writes its output to slow
    memory (then it runs alone on its output's grid and stores it). c
    pays the smaller of those surpluses over the two makers. ``claimed``
    is what Pointwise ops may already charge above their own floors, part
    of which may lie in a maker's heading cells.
    """
    p = problem
    made = [p.producer.get(t) for t in p.inputs[c]]
    if not p.is_matmul[c] or len(set(p.inputs[c])) != 2:
        return 0.0
    if any(
        x is None
        or not runs_alone(p, x)
        or any(p.consumers[t] != (c,) for t in p.outputs[x])
        for x in made
    ):
        return 0.0
    least = math.inf
    for x in made:
        assert x is not None
        (out,) = p.outputs[x]
        grid = Shape(p.widths[out], p.heights[out], True)
        stored = _alone_on(p, x, grid, chains) - floors[x]
        claim = sum(
            claimed[q]
            for t in p.inputs[x]
            if (q := p.producer.get(t)) is not None
        )
        heading = heading_floor(p, x, chains) - floors[x] - claim
        least = min(least, max(0.0, stored), max(0.0, heading))
    return least


class _Source(NamedTuple):
    """Where an input of a Pointwise op comes from: a MatMul that runs
    alone and the Pointwise ops between them (each the only reader of
    what the one before makes)."""

    matmul: int
    path: tuple[int, ...]


def path_surplus(
    problem: Problem,
    c: int,
    floors: list[float],
    chains: Chains,
) -> float:
    """What Pointwise ``c`` pays above ``floors`` where its two inputs
    come from two MatMuls that run alone, each through Pointwise ops
    that only pass it on (docs/lower-bound.md §1e); else 0.

    Those MatMuls never share a subgraph, so one of c's subgraphs lacks
    one of them, and loads a tensor of its path: either it holds the
    other MatMul, and the load falls in that MatMul's first cells
    (:func:`_with_path`), or it holds neither and loads one of each path
    (:func:`_without_both`). c pays the least of the three cases.
    """
    p = problem
    sources = _sources(p, c)
    if sources is None:
        return 0.0
    first, second = sources
    cases = (
        _with_path(p, c, first, second, floors, chains),
        _with_path(p, c, second, first, floors, chains),
        _without_both(p, c, {first.matmul, second.matmul}, floors, chains),
    )
    return max(0.0, min(cases))


def _sources(p: Problem, c: int) -> tuple[_Source, _Source] | None:
    """Where the two inputs of Pointwise ``c`` come from, if each from a
    MatMul that runs alone (:func:`_source`); None otherwise. The two
    MatMuls differ: each path is the one chain of single readers from
    its MatMul, so two paths from one MatMul would end in one tensor."""
    inputs = tuple(dict.fromkeys(p.inputs[c]))
    if p.is_matmul[c] or len(inputs) != 2:
        return None
    first, second = (_source(p, c, t) for t in inputs)
    if first is None or second is None:
        return None
    return first, second


def _source(p: Problem, c: int, t: int) -> _Source | None:
    """The MatMul that runs alone and makes ``t`` (an input of ``c``)
    through Pointwise ops of one input and one output, every tensor on
    the way read only by the next op and never kept (at least the
    capacity); None if there is none."""
    path: list[int] = []
    reader = c
    while True:
        maker = p.producer.get(t)
        if (
            maker is None
            or p.consumers[t] != (reader,)
            or p.sizes[t] < p.fast_memory_capacity
            or len(p.outputs[maker]) != 1
        ):
            return None
        if p.is_matmul[maker]:
            if not runs_alone(p, maker):
                return None
            return _Source(maker, tuple(path))
        if len(p.inputs[maker]) != 1:
            return None
        path.append(maker)
        reader, t = maker, p.inputs[maker][0]


def _with_path(
    p: Problem,
    c: int,
    here: _Source,
    there: _Source,
    floors: list[float],
    chains: Chains,
) -> float:
    """c's surplus where its subgraph holds ``here``'s MatMul: that
    MatMul's least cost there, with c and the ops of ``there``'s path
    that can be there surely in its first cells loading one slice of
    that path, above its floor; inf if c can never be there."""
    o = here.matmul
    alone = _alone_cells(p, o)
    best = math.inf
    for grid in pointwise_shapes(p, o, chains.past):
        company = _company_ops(p, o, grid, chains, math.inf)
        assert company is not None
        if c not in company:
            continue
        surely = {c, *there.path} & company
        cells = alone._replace(
            company=_entries(p, o, company - surely, company),
            forced=(sum(float(p.base_costs[y]) for y in surely), 1),
        )
        best = min(best, _least(p, grid, cells))
    return best - floors[o]


def _without_both(
    p: Problem,
    c: int,
    barred: set[int],
    floors: list[float],
    chains: Chains,
) -> float:
    """c's surplus where its subgraph holds neither MatMul of
    ``barred``: it loads a tensor of each path on every tile, above what
    its ops' floors charge; 0 where a MatMul or another op with such a
    surplus could be there."""
    seen = {c}
    todo = [c]
    while todo:
        x = todo.pop()
        for y, t in _linked(p, x):
            if y in seen or y in barred or not _may_meet(p, x, y, t):
                continue
            if p.is_matmul[y] or _sources(p, y) is not None:
                return 0.0
            seen.add(y)
            todo.append(y)
    area = min(g.width * g.height for g in pointwise_shapes(p, c, chains.past))
    loads = 2 * area / p.slow_memory_bandwidth
    return loads - sum(floors[y] for y in seen)


def _may_meet(p: Problem, x: int, y: int, t: int) -> bool:
    """Whether linked ops ``x`` and ``y`` (through ``t``) can share a
    strict subgraph (:func:`~mlsched.model.fusible.can_pass_inside`)."""
    if t in p.outputs[x]:
        return can_pass_inside(p, "strict", x, y, t)
    if p.producer.get(t) == y:
        return can_pass_inside(p, "strict", y, x, t)
    return True


def heading_floor(
    problem: Problem, o: int, chains: Chains | None = None
) -> float:
    """The least compute plus unavoidable excess of MatMul ``o`` (for
    which :func:`runs_alone` holds) heading a chain in a strict subgraph;
    inf if no MatMul can read its output there.

    Such a subgraph holds exactly two MatMuls, o and its tail c (one
    k-step needs K_c at most k_native, and three MatMuls would need o's
    K = k), so its grid is the shape of c's output or of a tensor
    Pointwise ops make from it, on every tile of which o computes its
    base cost. When K_c exceeds k_native too, every k-step after the
    first computes only the two MatMuls' shares and loads o's other
    operand (K_o by k) and c's other operand (a k-slice of a row or
    column strip) unless they are kept or ephemeral: the same excess as
    running alone, over K_c. ``chains`` as for :func:`alone_floor`.
    """
    p = problem
    chains = Chains(p, "strict") if chains is None else chains
    best = math.inf
    for c, t in chains.links(o):
        if not p.is_matmul[c]:
            continue
        for side, fed in enumerate(p.inputs[c]):
            if fed == t:
                cells = _head(p, o, c, side)
                for grid in pointwise_shapes(p, c, chains.past):
                    best = min(best, _least(p, grid, cells))
    return best


def _head(p: Problem, o: int, c: int, side: int) -> _Cells:
    """The cells of ``o`` heading ``c`` through c's input ``side`` (0:
    left): o's operand on the other side and c's other operand load a
    k-slice at every k-step."""
    k_o, k_c = p.k_op[o], p.k_op[c]
    if k_c <= p.k_native:
        # One k-step is possible: only o's compute per tile is sure.
        return _Cells(float(p.base_costs[o]), k_c, 0.0, 0.0, 0.0, 0.0)
    # Feeding c's left side, o reads its right operand by k-slices of K_o
    # columns; c then loads its right operand by column strips.
    mine = p.inputs[o][1 - side]
    theirs = p.inputs[c][1 - side]
    made = p.producer.get(theirs)
    own = _loaded(p, mine, k_o > p.native_granularity[1 - side])
    other = made != o and _loaded(
        p,
        theirs,
        k_c > p.native_granularity[1 - side]
        or (made is not None and p.is_matmul[made]),
    )
    return _Cells(
        base=float(p.base_costs[o]),
        depth=k_c,
        rows=float(other) if side == 1 else 0.0,
        cols=float(other) if side == 0 else 0.0,
        fixed=own * k_o,
        compute=(p.base_costs[o] + p.base_costs[c]) / k_c,
    )


def pointwise_floor(
    problem: Problem, q: int, floors: list[float], chains: Chains
) -> float:
    """The least cost of Pointwise ``q`` where no subgraph lets it share
    its grid (docs/lower-bound.md §1c), else ``floors[q]``.

    ``floors`` holds every op's floor so far, MatMuls' included. If q's
    output is ephemeral in no valid subgraph, or only where a MatMul c
    reading it across a native side heads a tail of small K, then an
    appearance of q with its output kept or evicted has that output's
    grid; when no op linked to q can share it (:func:`_shares_nothing`),
    q runs alone there and pays :func:`_own_cost`. Otherwise every
    appearance feeds some such c, which then heads a chain: c pays at
    least :func:`heading_floor`, above what ``floors`` charge it when it
    may run alone, and q is the only op that can claim that (c reads no
    other Pointwise output): q pays its floor plus the least such
    surplus.
    """
    p = problem
    heads = _heads_fed(p, q, chains)
    if heads is None or not _shares_nothing(p, q, chains):
        return floors[q]
    own = _own_cost(p, q)
    if heads:
        surplus = min(_surplus(p, q, c, floors, chains) for c in heads)
        own = min(own, floors[q] + surplus)
    return max(floors[q], own)


def _heads_fed(p: Problem, q: int, chains: Chains) -> list[int] | None:
    """The readers that can take Pointwise ``q``'s output ephemerally,
    if each must then head a tail of small K (SPEC §4 item 7); None if
    q has several outputs or one may be ephemeral another way."""
    if p.is_matmul[q] or len(p.outputs[q]) != 1:
        return None
    heads = []
    for c, t in chains.links(q):
        if not chains.across_side(q, c, t):
            return None
        heads.append(c)
    return heads


def _surplus(
    p: Problem, q: int, c: int, floors: list[float], chains: Chains
) -> float:
    """What MatMul ``c`` heading a chain pays above ``floors[c]``, if
    only ``q`` can claim it (c runs alone elsewhere, and no other
    Pointwise op makes its inputs); else 0."""
    makers = {p.producer.get(t) for t in p.inputs[c]} - {None, q}
    if makers or not runs_alone(p, c):
        return 0.0
    return max(0.0, heading_floor(p, c, chains) - floors[c])


def _shares_nothing(p: Problem, q: int, chains: Chains) -> bool:
    """Whether no op linked to ``q`` can share a strict subgraph whose
    grid is q's output's shape: a subgraph holding another op holds one
    linked to q (SPEC §8 item 3), which must be able to meet q there
    (:func:`~mlsched.model.fusible.can_pass_inside`, for a reader) and
    to reach an output of that shape
    (:meth:`~mlsched.model.chains.Chains.reach`)."""
    (out,) = p.outputs[q]
    grid = (p.widths[out], p.heights[out])
    return not any(
        y != q
        and (t != out or can_pass_inside(p, "strict", q, y, t))
        and grid in chains.reach(y)
        for y, t in _linked(p, q)
    )


def _linked(p: Problem, x: int) -> list[tuple[int, int]]:
    """Every op linked to ``x`` (SPEC §8 item 3) and the tensor that
    links them: readers of its outputs, makers of its inputs, other
    readers of its inputs (x itself among them)."""
    linked = [(c, t) for t in p.outputs[x] for c in p.consumers[t]]
    linked += [(p.producer[t], t) for t in p.inputs[x] if t in p.producer]
    linked += [(c, t) for t in p.inputs[x] for c in p.consumers[t]]
    return linked


def _own_cost(p: Problem, q: int) -> float:
    """The least cost of Pointwise ``q`` in a subgraph of its own: its
    compute on the native tiles of its grid, or the transfer time of the
    inputs no subgraph keeps and of its output if none retains it, if
    larger."""
    (out,) = p.outputs[q]
    width, height = p.widths[out], p.heights[out]
    loads = sum(_loaded(p, t, True) for t in set(p.inputs[q]))
    stores = out in p.graph_outputs or p.sizes[out] >= p.fast_memory_capacity
    moved = (loads + stores) * width * height / p.slow_memory_bandwidth
    return max(p.base_costs[q] * shape_tiles(p, width, height), moved)


def _most_seen(p: Problem, grid: Shape, cells: _Cells) -> float:
    """The largest first-cell excess of ``cells`` on ``grid`` that other
    ops' compute could hide: at the largest tile, the steepest."""
    hh = min(p.native_granularity[1], grid.height)
    ww = min(p.native_granularity[0], grid.width)
    moved = cells.rows * hh + cells.cols * ww + cells.fixed
    slope = moved / p.slow_memory_bandwidth - cells.compute
    return max(0.0, slope * p.k_native)


def _company(
    p: Problem, o: int, grid: Shape, chains: Chains, enough: float
) -> tuple[tuple[float, int], ...] | None:
    """What the Pointwise ops that can share a strict subgraph of
    ``grid`` where ``o`` is the only MatMul may hide of its first cells:
    per op, its base cost and how many slices it surely loads there;
    None once their base costs add up to ``enough`` (they may hide all).
    """
    seen = _company_ops(p, o, grid, chains, enough)
    if seen is None:
        return None
    return _entries(p, o, seen, seen)


def _entries(
    p: Problem, o: int, ops: set[int], company: set[int]
) -> tuple[tuple[float, int], ...]:
    """Each of ``ops``' base cost and how many slices it surely loads in a
    subgraph where ``o`` is the only MatMul and ``company`` holds every
    Pointwise op that could be there.

    Such an op loads at k-step 0 an input that is never kept or made
    there (a graph input, or one made by another MatMul and at least the
    capacity) unless another Pointwise op of the subgraph loads the same
    slice (§5.2 reuse): only inputs that none of the others reads count.
    """
    return tuple(
        (float(p.base_costs[y]), _sure_loads(p, o, y, company))
        for y in sorted(ops)
    )


def _company_ops(
    p: Problem, o: int, grid: Shape, chains: Chains, enough: float
) -> set[int] | None:
    """The Pointwise ops that can share a strict subgraph of ``grid``
    where ``o`` is the only MatMul; None once their base costs add up to
    ``enough``.

    The subgraph is connected (SPEC §8 item 3) through its own ops, o and
    Pointwise ones, and each output of a Pointwise op there is of the
    grid's shape (§4 item 8) or read there, by o or by Pointwise ops (no
    other MatMul is there), down to one of the grid's shape or to o. So
    only Pointwise ops with such an output, reached from o through such
    ops, can be there.
    """
    feeds, barred = _feeding(p, o)
    size = (grid.width, grid.height)

    def fits(y: int) -> bool:
        return y in feeds or any(
            (s.width, s.height) == size
            for t in p.outputs[y]
            for s in chains.past[t]
        )

    seen = {o}
    todo = [o]
    total = 0.0
    while todo:
        x = todo.pop()
        for y, _ in _linked(p, x):
            if y in seen or y in barred or p.is_matmul[y] or not fits(y):
                continue
            seen.add(y)
            todo.append(y)
            total += p.base_costs[y]
            if total >= enough:
                return None
    seen.discard(o)
    return seen


def _sure_loads(p: Problem, o: int, q: int, company: set[int]) -> int:
    """How many inputs Pointwise ``q`` surely loads in a subgraph where
    MatMul ``o`` is the only MatMul and ``company`` holds every Pointwise
    op that could be there."""
    sure = 0
    for t in set(p.inputs[q]):
        made = p.producer.get(t)
        never_kept = made is None or (
            made != o
            and p.is_matmul[made]
            and p.sizes[t] >= p.fast_memory_capacity
        )
        shared = any(c != q and c in company for c in p.consumers[t])
        sure += never_kept and not shared
    return sure


def _hidden(
    cells: _Cells, area: np.ndarray, bandwidth: float
) -> np.ndarray | float:
    """What the first cell's other ops may hide of its loads, on tiles
    of ``area`` elements: each op's compute above its own sure loads,
    and the forced ops' compute less their sure loads (negative where
    they load more than they compute)."""
    if cells.company is None:
        return math.inf
    base, sure = cells.forced
    # Ops surely there hide their compute and add their loads, even where
    # that adds more than it hides; the others may be absent.
    hidden: np.ndarray | float = base - sure * area / bandwidth
    for base, sure in cells.company:
        hidden = hidden + np.maximum(0.0, base - sure * area / bandwidth)
    return hidden


def _feeding(p: Problem, o: int) -> tuple[set[int], set[int]]:
    """The Pointwise ops with a path of Pointwise ops to an input of
    ``o`` in a subgraph that holds o, and those barred from any: a
    Pointwise op making o's operand across a native side shorter than K
    (SPEC §4 item 7, §8 item 1)."""
    w_native, h_native = p.native_granularity
    found: set[int] = set()
    barred: set[int] = set()
    todo = []
    for t, side in zip(p.inputs[o], (w_native, h_native)):
        made = p.producer.get(t)
        if made is None or p.is_matmul[made]:
            continue
        (barred if p.k_op[o] > side else found).add(made)
        if p.k_op[o] <= side:
            todo.append(made)
    while todo:
        x = todo.pop()
        for t in p.inputs[x]:
            y = p.producer.get(t)
            if y is not None and not p.is_matmul[y] and y not in found:
                found.add(y)
                todo.append(y)
    return found, barred


def _loaded(p: Problem, t: int, beyond_side: bool) -> bool:
    """Whether operand ``t`` is loaded at every k-step: never kept and
    never ephemeral (``beyond_side``: K exceeds the native side its slice
    spans)."""
    if t not in p.producer:
        return True
    return beyond_side and p.sizes[t] >= p.fast_memory_capacity


def _least(p: Problem, grid: Shape, cells: _Cells) -> float:
    """Least base·tiles plus excess over every tile of ``grid``."""
    return _least_of(
        grid,
        cells,
        float(p.slow_memory_bandwidth),
        (p.native_granularity[0], p.native_granularity[1]),
        p.k_native,
    )


@functools.lru_cache(maxsize=4096)
def _least_of(
    grid: Shape,
    cells: _Cells,
    bandwidth: float,
    native: tuple[int, int],
    k_native: int,
) -> float:
    """:func:`_least`, cached by value."""
    h = np.arange(1, min(native[1], grid.height) + 1, dtype=float)[:, None]
    w = np.arange(1, min(native[0], grid.width) + 1, dtype=float)[None, :]
    rows, h_rem = np.divmod(grid.height, h)
    cols, w_rem = np.divmod(grid.width, w)

    def excess(hh: np.ndarray, ww: np.ndarray) -> np.ndarray:
        # One tile's cells after the first (docs/lower-bound.md §1b).
        if cells.depth <= k_native:
            return np.zeros_like(hh * ww)
        moved = cells.rows * hh + cells.cols * ww + cells.fixed
        slope = moved / bandwidth - cells.compute
        store = grid.evicted * hh * ww / bandwidth
        first = np.maximum(
            0.0, slope * k_native - _hidden(cells, hh * ww, bandwidth)
        )
        out: np.ndarray = np.where(
            slope >= 0,
            slope * (cells.depth - k_native) + first + store,
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
    return float(np.min(cells.base * tiles + total))
