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
from functools import lru_cache
from typing import NamedTuple

from mlsched import clock
from mlsched.model.problem import PerProblem, Problem
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


def _step_compute(view: SubgraphView, k: int, nk: int, j: int) -> float:
    """Compute time of any cell at k-step j (SPEC §5.1)."""
    if not view.matmuls:
        return view.pointwise_cost if j == 0 else 0.0
    p = view.problem
    total = 0.0
    for o in view.ops:
        if p.is_matmul[o]:
            k_eff = view.k_eff(o, j, k, nk)
            total += p.base_costs[o] * k_eff / view.k_den(o)
        elif j == 0:
            total += p.base_costs[o]
    return total


@dataclass
class _Tally:
    """Cells summed into a :class:`SubgraphCost`: each costs the larger
    of its compute and its transfer time (SPEC §5)."""

    latency: float = 0.0
    compute_time: float = 0.0
    memory_time: float = 0.0
    compute_cells: int = 0
    memory_cells: int = 0

    def add(self, compute: float, transfer: float, n: int = 1) -> None:
        """Count ``n`` cells of this compute and transfer time."""
        self.latency += n * max(compute, transfer)
        self.compute_time += n * compute
        self.memory_time += n * transfer
        if compute >= transfer:
            self.compute_cells += n
        else:
            self.memory_cells += n

    def cost(
        self,
        view: SubgraphView,
        grain: Grain,
        tiles: tuple[int, int],
        k_steps: int,
    ) -> SubgraphCost:
        """The subgraph's cost from the cells counted so far."""
        return SubgraphCost(
            latency=self.latency,
            working_set=view.working_set(grain),
            tiles=tiles,
            k_steps=k_steps,
            compute_cells=self.compute_cells,
            memory_cells=self.memory_cells,
            compute_time=self.compute_time,
            memory_time=self.memory_time,
        )


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
    tally = _Tally()
    for idx in tiles:
        r, c = divmod(idx, nw)
        h_eff = min(h, height - r * h)
        w_eff = min(w, width - c * w)
        for j in range(nk):
            compute = _step_compute(view, k, nk, j)
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
            tally.add(compute, moved / bw)
    return tally.cost(view, grain, (nw, nh), nk)


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


@lru_cache(maxsize=4096)
def _tile_classes(
    name: str, nw: int, nh: int
) -> tuple[tuple[int, tuple[int, int], int], ...]:
    """(count, tile, situation) per class of tiles of a named traversal.

    Tiles are ``(row, col)``. A tile's cell costs depend only on whether
    it is an edge tile and on which of row and column it shares with the
    previous tile (its situation); both are the same for every tile of
    one class.
    """
    by_cols = name.endswith("_cols")
    snake = name.startswith("snake")
    major_n, minor_n = (nw, nh) if by_cols else (nh, nw)

    def tile(a: int, pos: int) -> tuple[int, int]:
        b = minor_n - 1 - pos if snake and a % 2 else pos
        return (b, a) if by_cols else (a, b)

    out: list[tuple[int, tuple[int, int], int]] = []
    for a, a_count in _index_classes(major_n, snake):
        for pos, pos_count in _index_classes(minor_n, False):
            if pos > 0:
                prev: tuple[int, int] | None = tile(a, pos - 1)
            elif a > 0:
                prev = tile(a - 1, minor_n - 1)
            else:
                prev = None
            here = tile(a, pos)
            out.append((a_count * pos_count, here, _situation(here, prev)))
    return tuple(out)


@dataclass(frozen=True)
class _Loads:
    """Elements a cell loads, as coefficients of its tile shape.

    A cell of tile ``h_eff x w_eff`` at a k-step where a use reading for
    a MatMul with reference depth ``K_ref`` covers ``k_eff(K_ref)`` loads
    ``pw*h*w + h*(hk + sum lhs[K]*k_eff(K)) + w*(wk + sum rhs[K]*k_eff(K))
    + sum mid[K]*k_eff(K)`` elements.
    """

    pw: int
    hk: int
    wk: int
    lhs: tuple[tuple[int, int], ...]
    rhs: tuple[tuple[int, int], ...]
    mid: tuple[tuple[int, int], ...]


# How a tile relates to the one before it in the traversal.
_FIRST, _SAME_ROW, _SAME_COL, _OTHER = range(4)
_NEXT_STEP = 4  # any k-step j > 0
_PREV_TILE = {_SAME_ROW: (1, 0), _SAME_COL: (0, 1), _OTHER: (0, 0)}


def _load_profile(view: SubgraphView, single_step: bool) -> list[_Loads]:
    """Per cell situation, which uses load (depends on no granularity).

    Whether a use loads depends only on key equality, which depends on the
    use kinds, on whether there is one k-step or several, and on which of
    row and column the tile shares with the previous one; never on sizes.
    Each situation is played once on representative coordinates.
    """
    cache = view.cost_memo
    known: list[_Loads] | None = cache.get(("loads", single_step))
    if known is not None:
        return known
    uses = view.uses
    k_op = view.problem.k_op
    every_step = {u.tensor for u in uses if not u.kind.step0_only}
    last_any: dict[int, Kind] = {}
    last_every: dict[int, Kind] = {}
    for u in uses:
        last_any[u.tensor] = u.kind
        if not u.kind.step0_only:
            last_every[u.tensor] = u.kind
    profile: list[_Loads] = []
    for situation in range(5):
        last: dict[int, Key] = {}
        j = 1 if situation == _NEXT_STEP else 0
        # At k-step j > 0 every active key holds j and every key of k-step
        # j-1 holds j-1 or no step: nothing carries over.
        if situation in _PREV_TILE:
            pr, pc = _PREV_TILE[situation]
            for t, kind in last_any.items():
                if t in every_step and not single_step:
                    last[t] = _use_key(last_every[t], pr, pc, 1)
                else:
                    last[t] = _use_key(kind, pr, pc, 0)
        pw = hk = wk = 0
        lhs: dict[int, int] = {}
        rhs: dict[int, int] = {}
        mid: dict[int, int] = {}
        for u in uses:
            if j > 0 and u.kind.step0_only:
                continue
            key = _use_key(u.kind, 1, 1, j)
            if last.get(u.tensor) == key:
                continue
            last[u.tensor] = key
            kind = u.kind
            ref = view.k_den(u.op) if u.k_op else 0
            if kind is Kind.PW:
                pw += 1
            elif kind is Kind.LHS:
                lhs[ref] = lhs.get(ref, 0) + 1
            elif kind is Kind.RHS:
                rhs[ref] = rhs.get(ref, 0) + 1
            elif kind is Kind.HL_LHS:
                hk += k_op[u.op]
            elif kind is Kind.HR_RHS:
                wk += k_op[u.op]
            else:
                mid[ref] = mid.get(ref, 0) + k_op[u.op]
        profile.append(
            _Loads(
                pw,
                hk,
                wk,
                tuple(lhs.items()),
                tuple(rhs.items()),
                tuple(mid.items()),
            )
        )
    cache["loads", single_step] = profile
    return profile


def _situation(tile: tuple[int, int], prev: tuple[int, int] | None) -> int:
    if prev is None:
        return _FIRST
    if prev[0] == tile[0]:
        return _SAME_ROW
    if prev[1] == tile[1]:
        return _SAME_COL
    return _OTHER


class _StepClass(NamedTuple):
    """The k-steps that cost alike: the first, the middle ones (each
    covers a full k) or the last."""

    #: A representative k-step index.
    step: int
    #: How many k-steps the class holds.
    repeats: int


def _step_classes(nk: int) -> list[_StepClass]:
    """The k-step classes of ``nk`` k-steps."""
    steps = [_StepClass(0, 1)]
    if nk > 2:
        steps.append(_StepClass(1, nk - 2))
    if nk > 1:
        steps.append(_StepClass(nk - 1, 1))
    return steps


class _StepCost(NamedTuple):
    """What the cells of one k-step class share, whatever their tile."""

    #: How many k-steps the class holds.
    repeats: int
    #: Compute time of each cell.
    compute: float
    #: Per situation of the tile (alike past k-step 0), a cell's loads in
    #: elements per ``h*w``, per ``h``, per ``w`` and fixed.
    loads: tuple[tuple[int, int, int, int], ...]


def _step_costs(view: SubgraphView, k: int) -> list[_StepCost]:
    """The k-step classes of ``view`` at reduction step ``k``, derived
    once per view and k: a search costs many tile shapes at one k."""
    cache = view.cost_memo
    known: list[_StepCost] | None = cache.get(("steps", k))
    if known is not None:
        return known
    nk = view.num_k_steps(k)
    profile = _load_profile(view, nk == 1)
    stores = len(view.evicted)

    def k_sum(pairs: tuple[tuple[int, int], ...], j: int) -> int:
        if nk == 1:
            return sum(n * ref for ref, n in pairs)
        return sum(n * min(k, ref - j * k) for ref, n in pairs)

    steps = []
    for j, repeats in _step_classes(nk):
        loads = []
        for situation in range(_NEXT_STEP):
            ld = profile[situation if j == 0 else _NEXT_STEP]
            loads.append(
                (
                    ld.pw + (stores if j == nk - 1 else 0),
                    ld.hk + k_sum(ld.lhs, j),
                    ld.wk + k_sum(ld.rhs, j),
                    k_sum(ld.mid, j),
                )
            )
        compute = _step_compute(view, k, nk, j)
        steps.append(_StepCost(repeats, compute, tuple(loads)))
    cache["steps", k] = steps
    return steps


def _shape_classes(
    view: SubgraphView, grain: Grain, traversal: str
) -> dict[tuple[int, int, int], int]:
    """How many tiles there are per ``(w, h, situation)``: tiles of one
    class share the effective tile shape and the loads they repeat."""
    w, h = grain.w, grain.h
    width, height = view.grid_shape
    nw, nh = view.grid(grain)
    shapes: dict[tuple[int, int, int], int] = {}
    for count, (r, c), situation in _tile_classes(traversal, nw, nh):
        key = (min(w, width - c * w), min(h, height - r * h), situation)
        shapes[key] = shapes.get(key, 0) + count
    return shapes


def view_cost(
    view: SubgraphView, grain: Grain, traversal: str = "raster"
) -> SubgraphCost:
    """Cost a subgraph by cell classes (fast; equal to the reference).

    Parameters
    ----------
    view
        The subgraph; it must have an output and obey the fusion rules.
    grain
        Its granularity.
    traversal
        One of :data:`TRAVERSALS`.
    """
    if traversal not in TRAVERSALS:
        raise ValueError(f"unknown traversal {traversal!r}")
    clock.count(len(view.ops))
    bw = view.problem.slow_memory_bandwidth
    shapes = _shape_classes(view, grain, traversal)
    tally = _Tally()
    for step in _step_costs(view, grain.k):
        for (w_eff, h_eff, situation), count in shapes.items():
            a_hw, a_h, a_w, a_0 = step.loads[situation]
            moved = a_hw * h_eff * w_eff + a_h * h_eff + a_w * w_eff + a_0
            tally.add(step.compute, moved / bw, count * step.repeats)
    nk = view.num_k_steps(grain.k)
    return tally.cost(view, grain, view.grid(grain), nk)


#: Costs of one subgraph shape, by granularity and traversal.
ShapeCosts = dict[tuple[Grain, str], SubgraphCost]

#: Per problem, the costs :func:`known_cost` found, by shape signature.
_KNOWN: PerProblem[dict[object, ShapeCosts]] = PerProblem(dict)


def shape_costs(problem: Problem, signature: object) -> ShapeCosts:
    """Where :func:`known_cost` keeps the costs of subgraphs of
    ``problem`` with this :func:`~mlsched.model.subgraph.shape_signature`.

    A cost depends on the subgraph's shape and its granularity alone, so
    every search, polish and schedule costing of a problem shares them:
    the coarse and fine granularity searches of a solve, the solves of
    one problem and the costing of finished schedules meet many of the
    same.
    """
    return _KNOWN[problem].setdefault(signature, {})


def known_cost(
    view: SubgraphView, costs: ShapeCosts, grain: Grain, traversal: str
) -> SubgraphCost:
    """:func:`view_cost`, remembered in ``costs`` (see :func:`shape_costs`).

    A known cost still counts as costed on the clock: a deterministic
    solve's virtual time is its work as if nothing were remembered, so
    its schedules, and its pace against the wall clock, do not depend on
    this memo.
    """
    cost = costs.get((grain, traversal))
    if cost is None:
        cost = view_cost(view, grain, traversal)
        costs[grain, traversal] = cost
    else:
        clock.count(len(view.ops))
        clock.count(clock.WORKING_SET_UNITS)
    return cost


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


def traversal_matters(view: SubgraphView, grain: Grain) -> bool:
    """Whether the tile order can change this subgraph's latency.

    Orders differ only in which of row and column a tile shares with the
    previous one; if the loads are the same in every such situation, all
    orders cost the same.
    """
    profile = _load_profile(view, view.num_k_steps(grain.k) == 1)
    return not (profile[_SAME_ROW] == profile[_SAME_COL] == profile[_OTHER])
