"""Subgraph latency: the per-cell reference and the fast class oracle.

Two independent ways to sum the cells of SPEC §5 that check each other:

- :func:`reference_cost` walks every (tile, k-step) cell in traversal order
  and keeps the last-load key of every tensor, as SPEC §5 reads. It accepts
  any permutation of tiles.
- :func:`view_cost` (and its convenience wrapper :func:`subgraph_cost`)
  groups cells into classes whose cost is provably the same (first / middle
  / last k-step, edge or full tile, and how the tile relates to the one
  before it) and costs one representative per class, so its run time is
  O(uses x classes) whatever the number of tiles. It supports the four
  named orders of :data:`TRAVERSALS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mlsched.model.problem import Problem
from mlsched.model.subgraph import Grain, Kind, SubgraphView

#: Named tile orders: row-major raster (the contest's ``null``), row-wise
#: snake (boustrophedon), and their column-major counterparts.
TRAVERSALS = ("raster", "snake", "raster_cols", "snake_cols")

Key = tuple[int | None, int | None, int | None]


@dataclass(frozen=True)
class SubgraphCost:
    """The latency of one subgraph and how it arises.

    Attributes
    ----------
    latency
        Sum of the cell latencies.
    working_set
        Peak fast-memory use (SPEC §6).
    tiles
        ``(nw, nh)``, tile columns and rows.
    k_steps
        Number of k-steps per tile.
    compute_cells, memory_cells
        How many cells were compute-bound (compute >= transfer time) and
        how many memory-bound.
    compute_time, memory_time
        Sums over cells of the compute time and of the transfer time.
    """

    latency: float
    working_set: int
    tiles: tuple[int, int]
    k_steps: int
    compute_cells: int
    memory_cells: int
    compute_time: float
    memory_time: float

    @property
    def bottleneck(self) -> str:
        """``"compute"``, ``"memory"`` or ``"mixed"`` by cell majority."""
        total = self.compute_cells + self.memory_cells
        if self.compute_cells >= 0.9 * total:
            return "compute"
        if self.memory_cells >= 0.9 * total:
            return "memory"
        return "mixed"


def traversal_permutation(name: str, nw: int, nh: int) -> list[int]:
    """The tile-index permutation of a named traversal.

    Parameters
    ----------
    name
        One of :data:`TRAVERSALS`.
    nw, nh
        Tile columns and rows of the grid.
    """
    if name not in TRAVERSALS:
        raise ValueError(f"unknown traversal {name!r}")
    by_cols = name.endswith("_cols")
    snake = name.startswith("snake")
    major, minor = (nw, nh) if by_cols else (nh, nw)
    order: list[int] = []
    for a in range(major):
        line = range(minor - 1, -1, -1) if snake and a % 2 else range(minor)
        for b in line:
            r, c = (b, a) if by_cols else (a, b)
            order.append(r * nw + c)
    return order


def _use_key(
    kind: Kind, r: int, c: int, j: int
) -> tuple[int | None, int | None, int | None]:
    if kind is Kind.PW:
        return (r, c, None)
    if kind is Kind.LHS:
        return (r, None, j)
    if kind is Kind.RHS:
        return (None, c, j)
    if kind is Kind.HL_LHS:
        return (r, None, None)
    if kind is Kind.HR_RHS:
        return (None, c, None)
    return (None, None, j)  # HL_RHS, HR_LHS


def _use_size(
    view: SubgraphView,
    kind: Kind,
    op: int,
    h_eff: int,
    w_eff: int,
    k_eff: int,
) -> int:
    if kind is Kind.PW:
        return h_eff * w_eff
    if kind is Kind.LHS:
        return h_eff * k_eff
    if kind is Kind.RHS:
        return k_eff * w_eff
    k_op = view.problem.k_op[op]
    if kind is Kind.HL_LHS:
        return h_eff * k_op
    if kind is Kind.HR_RHS:
        return k_op * w_eff
    return k_op * k_eff  # HL_RHS, HR_LHS


def _step_compute(view: SubgraphView, grain: Grain, nk: int, j: int) -> float:
    """Compute time of any cell at k-step j (SPEC §5.1)."""
    p = view.problem
    total = 0.0
    for o in view.ops:
        if p.is_matmul[o]:
            k_eff = view.k_eff(o, j, grain.k, nk)
            total += p.base_costs[o] * k_eff / view.k_den(o)
        elif j == 0:
            total += p.base_costs[o]
    return total


def reference_cost(
    view: SubgraphView,
    grain: Grain,
    order: Sequence[int] | None = None,
) -> SubgraphCost:
    """Cost a subgraph by simulating every cell (the executable SPEC §5).

    Parameters
    ----------
    view
        The subgraph.
    grain
        Its granularity.
    order
        A permutation of tile indices; ``None`` for raster order.
    """
    p = view.problem
    w, h, k = grain.w, grain.h, grain.k
    width, height = view.grid_shape
    nw, nh = view.grid(grain)
    nk = view.num_k_steps(k)
    bw = p.slow_memory_bandwidth
    tiles = range(nw * nh) if order is None else order
    last: dict[int, Key] = {}
    latency = compute_time = memory_time = 0.0
    compute_cells = memory_cells = 0
    for idx in tiles:
        r, c = divmod(idx, nw)
        h_eff = min(h, height - r * h)
        w_eff = min(w, width - c * w)
        for j in range(nk):
            compute = _step_compute(view, grain, nk, j)
            moved = 0
            for u in view.uses:
                if j > 0 and u.kind.step0_only:
                    continue
                key = _use_key(u.kind, r, c, j)
                if last.get(u.tensor) == key:
                    continue
                last[u.tensor] = key
                k_eff = view.k_eff(u.op, j, k, nk) if u.k_op else 0
                moved += _use_size(view, u.kind, u.op, h_eff, w_eff, k_eff)
            if j == nk - 1:
                moved += len(view.evicted) * h_eff * w_eff
            transfer = moved / bw
            latency += max(compute, transfer)
            compute_time += compute
            memory_time += transfer
            if compute >= transfer:
                compute_cells += 1
            else:
                memory_cells += 1
    return SubgraphCost(
        latency=latency,
        working_set=view.working_set(grain),
        tiles=(nw, nh),
        k_steps=nk,
        compute_cells=compute_cells,
        memory_cells=memory_cells,
        compute_time=compute_time,
        memory_time=memory_time,
    )


def _index_classes(n: int, parity: bool) -> list[tuple[int, int]]:
    """(representative, count) for indices 0..n-1 of a line of n.

    First and last stand alone; the middle ones cost the same, except that
    a snake's direction flips with the parity of the major index.
    """
    classes = [(0, 1)]
    if n > 1:
        classes.append((n - 1, 1))
    middle = n - 2
    if middle > 0:
        if parity:
            odd = (middle + 1) // 2  # odd indices among 1..n-2
            classes.append((1, odd))
            if middle - odd:
                classes.append((2, middle - odd))
        else:
            classes.append((1, middle))
    return classes


def _tile_classes(
    name: str, nw: int, nh: int
) -> list[tuple[int, tuple[int, int], tuple[int, int] | None]]:
    """(count, tile, previous tile) per class of a named traversal.

    Tiles are ``(row, col)``. A tile's cell costs depend only on whether
    it is an edge tile and on which of row and column it shares with the
    previous tile; both are the same for every tile of one class.
    """
    by_cols = name.endswith("_cols")
    snake = name.startswith("snake")
    major_n, minor_n = (nw, nh) if by_cols else (nh, nw)

    def tile(a: int, pos: int) -> tuple[int, int]:
        b = minor_n - 1 - pos if snake and a % 2 else pos
        return (b, a) if by_cols else (a, b)

    out: list[tuple[int, tuple[int, int], tuple[int, int] | None]] = []
    for a, a_count in _index_classes(major_n, snake):
        for pos, pos_count in _index_classes(minor_n, False):
            if pos > 0:
                prev: tuple[int, int] | None = tile(a, pos - 1)
            elif a > 0:
                prev = tile(a - 1, minor_n - 1)
            else:
                prev = None
            out.append((a_count * pos_count, tile(a, pos), prev))
    return out


def view_cost(
    view: SubgraphView, grain: Grain, traversal: str = "raster"
) -> SubgraphCost:
    """Cost a subgraph by cell classes (fast; equal to the reference).

    Parameters
    ----------
    view
        The subgraph; it must have an output.
    grain
        Its granularity.
    traversal
        One of :data:`TRAVERSALS`.
    """
    if traversal not in TRAVERSALS:
        raise ValueError(f"unknown traversal {traversal!r}")
    p = view.problem
    w, h, k = grain.w, grain.h, grain.k
    width, height = view.grid_shape
    nw, nh = view.grid(grain)
    nk = view.num_k_steps(k)
    bw = p.slow_memory_bandwidth
    uses = view.uses
    n_evicted = len(view.evicted)

    # k-step classes: (j, count). Any 0 < j < nk-1 has k_eff = k.
    steps = [(0, 1)]
    if nk > 2:
        steps.append((1, nk - 2))
    if nk > 1:
        steps.append((nk - 1, 1))
    compute = {j: _step_compute(view, grain, nk, j) for j, _ in steps}
    k_effs = {
        (u.op, j): view.k_eff(u.op, j, k, nk) if u.k_op else 0
        for u in uses
        for j in (*compute, nk - 1)
    }
    # Per tensor, the uses active at every k-step decide what the last
    # key is when a new tile starts: the key of the tensor's last use at
    # the previous tile's last k-step, or at its k-step 0 if the tensor
    # is only read at k-step 0.
    every_step = {u.tensor for u in uses if not u.kind.step0_only}
    last_use: dict[tuple[int, bool], Kind] = {}
    for u in uses:
        last_use[(u.tensor, False)] = u.kind  # last use at k-step 0
        if not u.kind.step0_only:
            last_use[(u.tensor, True)] = u.kind  # last use at other steps

    def h_of(r: int) -> int:
        return min(h, height - r * h)

    def w_of(c: int) -> int:
        return min(w, width - c * w)

    latency = compute_time = memory_time = 0.0
    compute_cells = memory_cells = 0
    for count, (r, c), prev in _tile_classes(traversal, nw, nh):
        h_eff, w_eff = h_of(r), w_of(c)
        for j, j_count in steps:
            # At k-step j > 0 every active key holds j and every key of
            # k-step j-1 holds j-1 or no step: nothing carries over, so
            # the state only matters when a tile starts.
            last: dict[int, Key] = {}
            if j == 0 and prev is not None:
                pr, pc = prev
                for u in uses:
                    t = u.tensor
                    if t in last:
                        continue
                    if t in every_step:
                        kind = last_use[(t, nk > 1)]
                        last[t] = _use_key(kind, pr, pc, nk - 1)
                    else:
                        last[t] = _use_key(last_use[(t, False)], pr, pc, 0)
            moved = 0
            for u in uses:
                if j > 0 and u.kind.step0_only:
                    continue
                key = _use_key(u.kind, r, c, j)
                if last.get(u.tensor) == key:
                    continue
                last[u.tensor] = key
                moved += _use_size(
                    view, u.kind, u.op, h_eff, w_eff, k_effs[(u.op, j)]
                )
            if j == nk - 1:
                moved += n_evicted * h_eff * w_eff
            transfer = moved / bw
            cell_compute = compute[j]
            n = count * j_count
            latency += n * max(cell_compute, transfer)
            compute_time += n * cell_compute
            memory_time += n * transfer
            if cell_compute >= transfer:
                compute_cells += n
            else:
                memory_cells += n
    return SubgraphCost(
        latency=latency,
        working_set=view.working_set(grain),
        tiles=(nw, nh),
        k_steps=nk,
        compute_cells=compute_cells,
        memory_cells=memory_cells,
        compute_time=compute_time,
        memory_time=memory_time,
    )


def subgraph_cost(
    problem: Problem,
    ops: Sequence[int],
    grain: Sequence[int] | Grain,
    retained_in: Iterable[int] = (),
    retain_out: Iterable[int] = (),
    traversal: str = "raster",
) -> SubgraphCost:
    """The exact cost of one subgraph, by the fast class oracle.

    Parameters
    ----------
    problem
        The problem.
    ops
        Op ids of the subgraph in execution order.
    grain
        ``[w, h, k]``.
    retained_in
        Tensors retained into the subgraph by its predecessor (P).
    retain_out
        Tensors the subgraph retains for its successor (R).
    traversal
        One of :data:`TRAVERSALS`.

    Returns
    -------
    SubgraphCost
        Latency, working set and cell statistics. Validity is not checked
        here: see :func:`mlsched.model.evaluate.subgraph_violation`.
    """
    g = grain if isinstance(grain, Grain) else Grain.of(grain)
    view = SubgraphView(problem, ops, retain_out, retained_in)
    return view_cost(view, g, traversal)
