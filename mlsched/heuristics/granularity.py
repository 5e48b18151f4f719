"""Choosing the tile granularity and traversal of one subgraph."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple, TypeVar

import numpy as np

from mlsched import clock
from mlsched.model import (
    TRAVERSALS,
    Grain,
    Problem,
    SubgraphCost,
    SubgraphView,
    subgraph_violation,
)
from mlsched.model.cost import (
    ShapeCosts,
    known_cost,
    shape_costs,
    traversal_matters,
)
from mlsched.model.problem import PerProblem
from mlsched.model.subgraph import Kind, shape_signature
from mlsched.model.types import Rules


@dataclass(frozen=True)
class Choice:
    """A granularity and traversal for a subgraph, with its exact cost."""

    grain: Grain
    traversal: str
    cost: SubgraphCost

    @property
    def latency(self) -> float:
        """The subgraph's latency with this choice."""
        return self.cost.latency


def halvings(cap: int) -> list[int]:
    """``cap``, its halvings and the powers of two below it, descending."""
    values = {cap}
    v = cap
    while v > 1:
        v //= 2
        values.add(v)
    power = 1
    while power < cap:
        values.add(power)
        power *= 2
    return sorted(values, reverse=True)


#: Spacing of the fine tile sizes (multiples of it up to the cap).
FINE_STEP = 8
#: Smallest tile side tried before falling back to every size.
MIN_SIDE = 8


def exact_counts(extent: int, cap: int, fine: bool) -> set[int]:
    """Sides ``ceil(extent / n)`` up to ``cap``: the smallest side that
    cuts ``extent`` into exactly n tiles.

    Any larger side with the same count runs as many tiles and moves as
    much, with a larger working set and uneven tiles, so these sides
    stand for every count. With n0 the fewest tiles ``cap`` allows, the
    counts are n0 times the powers of two, and, when ``fine``, every
    count up to 4 n0.
    """
    n0 = -(-extent // cap)
    counts = {n0 << i for i in range(extent.bit_length() + 1)}
    if fine:
        counts.update(range(n0, 4 * n0 + 1))
    return {-(-extent // n) for n in counts if n <= extent}


def tile_sizes(cap: int, fine: bool, extent: int | None = None) -> list[int]:
    """Candidate tile sizes up to ``cap``, descending.

    Coarse: :func:`halvings`. Fine: also every multiple of
    :data:`FINE_STEP`, since a tile that just fits often beats the next
    power of two below it by far. Given the ``extent`` the tiles cut,
    also its :func:`exact_counts` sides.
    """
    values = set(halvings(cap))
    if fine:
        values.update(range(FINE_STEP, cap + 1, FINE_STEP))
    if extent is not None and extent > 0:
        values.update(exact_counts(extent, cap, fine))
    return sorted(values, reverse=True)


#: A tile side, or an array of them.
Side = TypeVar("Side", int, np.ndarray)


def count_side(extent: int, side: Side) -> Side:
    """``ceil(extent / n)`` for the count n of ``side``-wide tiles: the
    smallest side that cuts ``extent`` into as many tiles as ``side``
    (elementwise for an array)."""
    return -(-extent // -(-extent // side))


@dataclass(frozen=True)
class WorkingSetPlane:
    """The working set (SPEC §6) at one k as ``a + b w + c h + d w h``:
    affine in each spatial side with the other fixed, so four values
    give it exactly and the largest fitting side solves directly."""

    a: int
    b: int
    c: int
    d: int

    @classmethod
    def of(cls, view: SubgraphView, k: int) -> WorkingSetPlane:
        """The plane of ``view`` at reduction step ``k``."""
        f11 = view.working_set(Grain(1, 1, k))
        f21 = view.working_set(Grain(2, 1, k))
        f12 = view.working_set(Grain(1, 2, k))
        d = view.working_set(Grain(2, 2, k)) - f21 - f12 + f11
        b, c = f21 - f11 - d, f12 - f11 - d
        return cls(f11 - b - c - d, b, c, d)

    def largest(
        self, axis: str, other: np.ndarray, cap: int, capacity: int
    ) -> np.ndarray:
        """Per entry of ``other``, the largest ``w`` (``axis="w"``, ``h =
        other``) or ``h`` (``w = other``) up to ``cap`` that fits
        ``capacity``; 0 where 1 does not."""
        fixed, per = (self.c, self.b) if axis == "w" else (self.b, self.c)
        base = self.a + fixed * other
        slope = per + self.d * other
        room = np.minimum(cap, (capacity - base) // np.maximum(slope, 1))
        side = np.where(slope <= 0, cap, room)
        return np.where(base + slope > capacity, 0, side)


def fitting_side(
    view: SubgraphView, grain: Grain, axis: str, cap: int, capacity: int
) -> int:
    """The largest ``w`` (``axis="w"``) or ``h`` up to ``cap`` at which
    ``grain`` with that side fits ``capacity``; 0 when even 1 does not
    (see :class:`WorkingSetPlane`)."""
    other = np.array(grain.h if axis == "w" else grain.w)
    plane = WorkingSetPlane.of(view, grain.k)
    return int(plane.largest(axis, other, cap, capacity))


def fitting_k(
    view: SubgraphView, w: int, h: int, lo: int, hi: int, capacity: int
) -> int:
    """The largest ``k`` in ``lo..hi`` at which ``[w, h, k]`` fits, given
    that ``k = lo`` fits: the working set never shrinks as k grows (it is
    piecewise linear in k, with a step where k-steps merge into one)."""
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if view.working_set(Grain(w, h, mid)) <= capacity:
            lo = mid
        else:
            hi = mid - 1
    return lo


Terms = tuple[tuple[tuple[int, int, int], ...], ...]


@dataclass(frozen=True)
class _Search:
    """What every tile shape costed for one subgraph shares."""

    view: SubgraphView
    #: Candidate k, descending.
    k_values: Sequence[int]
    #: The powers of two and halvings of the largest k, descending.
    coarse_k: Sequence[int]
    #: Every tile pays the full base cost of every op.
    compute_per_tile: float
    capacity: int
    bandwidth: float
    #: Traffic terms with and without reuse across tiles (a single or
    #: several k-steps); see :func:`_traffic_floor`.
    reuse: tuple[Terms, int]
    no_reuse: tuple[Terms, int]
    #: The working-set plane at the largest and at the smallest k.
    planes: dict[int, WorkingSetPlane]
    #: The element type of the shape arrays (see :func:`_int_type`).
    ints: type
    #: The costs of subgraphs of this shape found so far (see
    #: :func:`~mlsched.model.cost.shape_costs`).
    costs: ShapeCosts

    def cost(self, grain: Grain, traversal: str) -> SubgraphCost:
        """:func:`~mlsched.model.cost.known_cost` of the subgraph: a
        search around a size and the search over all sizes, and the
        coarse and the fine search, cost many of the same
        granularities."""
        return known_cost(self.view, self.costs, grain, traversal)


@dataclass(frozen=True)
class _Shapes:
    """The tile shapes of a search in the order they are tried, with
    the bounds that screen them, one array entry per shape: a search
    tries a few of hundreds of shapes, and screening them as arrays
    costs a few vector operations instead of a Python loop each."""

    w: np.ndarray
    h: np.ndarray
    #: The latency floor from compute alone (nondecreasing: the shapes
    #: come by tile count).
    compute: np.ndarray
    #: The latency floor from traffic, with reuse across tiles (a single
    #: k-step) and without.
    reuse: np.ndarray
    no_reuse: np.ndarray
    #: Whether the shape fits the working set at the smallest k.
    fits: np.ndarray

    @classmethod
    def of(cls, search: _Search, w: np.ndarray, h: np.ndarray) -> _Shapes:
        """The bounds of shapes ``w x h`` (in search order)."""
        width, height = search.view.grid_shape
        tiles_w, tiles_h = -(-width // w), -(-height // h)
        plane = search.planes[search.k_values[-1]]
        ws = plane.a + plane.b * w + plane.c * h + plane.d * w * h
        return cls(
            w=w,
            h=h,
            compute=tiles_w * tiles_h * search.compute_per_tile,
            reuse=_traffic_floor(search.reuse, tiles_w, tiles_h)
            / search.bandwidth,
            no_reuse=_traffic_floor(search.no_reuse, tiles_w, tiles_h)
            / search.bandwidth,
            fits=ws <= search.capacity,
        )

    def next_fitting(self, start: int, best: float) -> int | None:
        """The first shape from ``start`` on worth costing against the
        best latency ``best``: its traffic floor (with reuse) is below
        it and it fits at the smallest k. None once the compute floor
        reaches ``best`` (it only grows from there) or no shape is left.
        """
        stop = start + int(np.searchsorted(self.compute[start:], best))
        open_ = self.reuse[start:stop] < best
        hits = np.flatnonzero(open_ & self.fits[start:stop])
        found = int(hits[0]) if hits.size else None
        checked = open_ if found is None else open_[: found + 1]
        _count_working_sets(int(np.count_nonzero(checked)))
        return None if found is None else start + found


#: Integers below this convert to floats exactly.
_EXACT = 1 << 53


def _int_type(
    view: SubgraphView,
    terms: Iterable[tuple[Terms, int]],
    planes: Iterable[WorkingSetPlane],
) -> type:
    """``np.int64`` for a search's shape arrays when every traffic floor
    and working set they can hold is below 2**53, so that the arrays
    compute what Python's integers would (also once divided by the
    bandwidth); else ``object``, Python's integers themselves (exact on
    giant tensors, slower)."""
    width, height = view.grid_shape
    most = [
        stores
        + sum(max(c + a * width + b * height for c, a, b in t) for t in uses)
        for uses, stores in terms
    ]
    most += [
        abs(p.a)
        + abs(p.b) * width
        + abs(p.c) * height
        + abs(p.d) * width * height
        for p in planes
    ]
    return np.int64 if max(most) < _EXACT else object


def _count_working_sets(n: int) -> None:
    """Count ``n`` working-set checks on the clock, one at a time.

    :class:`_Shapes` checks the working sets of many shapes at once,
    but a deterministic solve's virtual clock must advance as if each
    checked shape were one :meth:`SubgraphView.working_set` call, in
    the same float steps, so that its schedules stay what they were.
    """
    if clock.current().deterministic:
        for _ in range(n):
            clock.count(clock.WORKING_SET_UNITS)


class _KWalks(NamedTuple):
    """The k search's result for one tile shape."""

    #: Lists of k to try in turn, each down from its largest value.
    walks: list[list[int]]
    #: Whether the largest fitting k runs a single k-step.
    single: bool


#: Per problem and optimizer settings, the choice per subgraph shape of
#: every optimizer off a deterministic clock (see
#: :meth:`GranularityOptimizer._choices`).
_CHOICES: PerProblem[dict[object, dict[object, Choice | None]]] = PerProblem(
    dict
)


class GranularityOptimizer:
    """Finds the cheapest valid ``[w, h, k]`` and traversal of a subgraph.

    The search starts at native tiles and shrinks only as far as the rules
    and the working set require: tile shapes are tried by increasing tile
    count, and since every tile pays its full compute (a tile below native
    pays in full), ``tiles x sum of base costs`` bounds the latency from
    below and stops the search once it exceeds the best found; a shape
    whose traffic floor (elements it must move, over the bandwidth)
    exceeds the best is skipped. For each tile shape the largest fitting
    ``k`` and the next smaller ones are costed, each in every traversal
    whenever the order can matter: splitting k is compute-neutral but not
    memory-neutral (k-steps break reuse across tiles), so the largest k is
    usually best. In the contest profile ``k`` may exceed the native
    depth, up to ``K``.

    Parameters
    ----------
    problem
        The problem.
    rules
        ``"strict"`` or ``"contest"``.
    k_tries
        How many fitting ``k`` values to cost per tile shape.
    fine
        Also try tile sizes and k that are multiples of
        :data:`FINE_STEP`, not only powers of two (slower, often better).
    """

    def __init__(
        self,
        problem: Problem,
        rules: Rules = "strict",
        k_tries: int = 2,
        fine: bool = False,
    ) -> None:
        self.problem = problem
        self.fine = fine
        self.rules = rules
        self.k_tries = k_tries
        self._cache: dict[
            tuple[tuple[int, ...], frozenset[int], frozenset[int]],
            Choice | None,
        ] = {}
        # Keyed by shape signature: the many identical layers of a real
        # model share one search per distinct subgraph.
        self._by_shape: dict[object, Choice | None] = {}
        self._shape_lists: dict[object, tuple[np.ndarray, np.ndarray]] = {}
        self.searches = 0

    @property
    def settings(self) -> tuple[Rules, int, bool]:
        """``(rules, k_tries, fine)``: what its choices depend on besides
        the problem."""
        return self.rules, self.k_tries, self.fine

    def best(
        self,
        ops: Sequence[int],
        retain_in: Iterable[int] = (),
        retain_out: Iterable[int] = (),
        around: Grain | None = None,
    ) -> Choice | None:
        """The cheapest valid choice, or None when no granularity fits.

        Parameters
        ----------
        ops
            Op ids in execution order.
        retain_in
            Tensors retained into the subgraph (they use fast memory).
        retain_out
            Tensors the subgraph retains for its successor.
        around
            Only try tiles from this size up to (not including) twice it:
            refines a power-of-two choice among the sizes in between.
        """
        key = (tuple(ops), frozenset(retain_in), frozenset(retain_out))
        if around is None and key in self._cache:
            return self._cache[key]
        shape = (shape_signature(self.problem, *key), around)
        choices = self._choices()
        if shape not in choices:
            view = SubgraphView(self.problem, key[0], key[2], key[1])
            choices[shape] = self._search(view, around)
        if around is None:
            self._cache[key] = choices[shape]
        return choices[shape]

    def _choices(self) -> dict[object, Choice | None]:
        """Where :meth:`best` keeps its choice per subgraph shape.

        Off a deterministic clock a choice is a function of the problem,
        the shape and the settings, so every optimizer of the problem
        with these settings shares them (:data:`_CHOICES`): the naive
        baseline of a solve, and every later solve of the problem, meet
        the shapes the list scheduler searched. On a deterministic clock
        each search must be paid for in counted work: then the choices
        are this optimizer's alone.
        """
        if clock.current().deterministic:
            return self._by_shape
        return _CHOICES[self.problem].setdefault(self.settings, {})

    def _k_values(self, view: SubgraphView) -> list[int]:
        if not view.matmuls:
            return [1]
        p = self.problem
        if self.rules == "strict":
            cap = min(p.k_native, *(p.k_op[m] for m in view.matmuls))
        else:
            cap = max(view.k_slicing, 1)
        return tile_sizes(cap, self.fine, view.k_slicing)

    def _search(
        self, view: SubgraphView, around: Grain | None = None
    ) -> Choice | None:
        # Tiles below 8 on a side pay their compute dozens of times over;
        # they are tried only when nothing larger fits.
        choice, settled = self._search_sizes(view, around, MIN_SIDE)
        if not settled:
            choice, _ = self._search_sizes(view, around, 1)
        return choice

    def _search_sizes(
        self, view: SubgraphView, around: Grain | None, min_side: int
    ) -> tuple[Choice | None, bool]:
        """The best choice among tiles of at least ``min_side``, and
        whether that settles it: True unless no such tile fit the working
        set (then smaller tiles may)."""
        self.searches += 1
        search = self._prepare(view)
        if search is None:
            return None, True
        shapes = _Shapes.of(search, *self._shapes(search, around, min_side))
        costed: list[Choice] = []
        fits = False
        best = float("inf")
        i = shapes.next_fitting(0, best)
        while i is not None:
            fits = True
            w, h = int(shapes.w[i]), int(shapes.h[i])
            ks = self._k_walks(search, w, h)
            floor = shapes.reuse[i] if ks.single else shapes.no_reuse[i]
            if floor < best:
                choice = self._cost_shape(search, w, h, ks.walks)
                if choice is not None:
                    costed.append(choice)
                    best = min(best, choice.latency)
            i = shapes.next_fitting(i + 1, best)
        if not costed:
            return None, fits
        return min(costed, key=partial(_rank, view)), True

    def _prepare(self, view: SubgraphView) -> _Search | None:
        """What every tile shape of ``view``'s search shares, or None when
        no granularity can make the subgraph valid."""
        if view.shape_violation() is not None:
            return None
        if self.rules == "strict" and not view.connected():
            return None
        p = self.problem
        k_values = self._k_values(view)
        facts = view.fusion_facts
        if facts.always is not None or (
            facts.multi is not None and view.num_k_steps(k_values[0]) > 1
        ):
            return None
        reuse, no_reuse = (
            _traffic_terms(view, True),
            _traffic_terms(view, False),
        )
        planes = {
            k: WorkingSetPlane.of(view, k) for k in {k_values[0], k_values[-1]}
        }
        return _Search(
            view=view,
            k_values=k_values,
            coarse_k=halvings(k_values[0]),
            compute_per_tile=sum(p.base_costs[o] for o in view.ops),
            capacity=p.fast_memory_capacity,
            bandwidth=p.slow_memory_bandwidth,
            reuse=reuse,
            no_reuse=no_reuse,
            planes=planes,
            ints=_int_type(view, (reuse, no_reuse), planes.values()),
            costs=shape_costs(p, view.signature),
        )

    def _k_walks(self, search: _Search, w: int, h: int) -> _KWalks:
        """The k values to cost for tile shape ``w x h``, given that the
        smallest listed k fits."""
        view, k_values = search.view, search.k_values
        # The working set grows with k: bisect for the largest k that
        # fits, then walk down to the first valid ones.
        lo, hi = 0, len(k_values) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if view.working_set(Grain(w, h, k_values[mid])) <= search.capacity:
                hi = mid
            else:
                lo = mid + 1
        # The largest fitting k, and the even split with its k-step
        # count, may lie between two listed values.
        k_fit = fitting_k(
            view,
            w,
            h,
            k_values[lo],
            k_values[lo - 1] - 1 if lo else k_values[0],
            search.capacity,
        )
        even = count_side(max(view.k_slicing, 1), k_fit)
        extra = sorted({k_fit, even} - {k_values[lo]}, reverse=True)
        walks = [extra, list(k_values[lo:])]
        # Fine k lists also try the powers of two below the largest
        # fitting k: a k that splits K evenly often wins.
        if self.fine:
            walks.append([k for k in search.coarse_k if k <= k_values[lo]])
        return _KWalks(walks, view.num_k_steps(k_fit) == 1)

    def _cost_shape(
        self, search: _Search, w: int, h: int, walks: Sequence[Sequence[int]]
    ) -> Choice | None:
        """The best choice of tile shape ``w x h`` over the k ``walks``,
        or None when no k is valid: k by raster cost, then the traversal
        for that k."""
        view = search.view
        rasters: list[Choice] = []
        for walk in walks:
            found = 0
            for k in walk[: self.k_tries + 6]:
                grain = Grain(w, h, k)
                if subgraph_violation(view, grain, self.rules) is not None:
                    continue
                cost = search.cost(grain, "raster")
                rasters.append(Choice(grain, "raster", cost))
                found += 1
                if found >= self.k_tries:
                    break
        if not rasters:
            return None
        # Fewer k-steps first: only a single one lets the traversal
        # reuse operands across tiles.
        top = min(
            rasters,
            key=lambda c: (
                round(c.latency, 6),
                view.num_k_steps(c.grain.k),
                view.working_set(c.grain),
            ),
        )
        return _best_traversal(search, top)

    def _shapes(
        self, search: _Search, around: Grain | None, min_side: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_list_shapes`, once per distinct input: subgraphs of
        one output shape often share their working-set planes."""
        key = (
            search.view.grid_shape,
            tuple(search.planes.values()),
            search.ints,
            around,
            min_side,
        )
        if key not in self._shape_lists:
            shapes = self._list_shapes(search, around, min_side)
            self._shape_lists[key] = shapes
        return self._shape_lists[key]

    def _list_shapes(
        self, search: _Search, around: Grain | None, min_side: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``(w, h)`` tile shapes to cost, as arrays of ``w`` and of
        ``h``: by increasing tile count, then decreasing tile area, then
        decreasing ``w``.

        Besides the listed sizes of each side, for every listed size of
        one side the largest other side that fits the working set (at the
        largest and the smallest k), taken at its exact tile count.
        """
        p = self.problem
        width, height = search.view.grid_shape
        w_cap = min(p.native_granularity[0], width)
        h_cap = min(p.native_granularity[1], height)
        ws: np.ndarray = np.array(
            tile_sizes(w_cap, self.fine, width), search.ints
        )
        hs: np.ndarray = np.array(
            tile_sizes(h_cap, self.fine, height), search.ints
        )
        w_all, h_all = [np.repeat(ws, hs.size)], [np.tile(hs, ws.size)]
        capacity = p.fast_memory_capacity
        for plane in search.planes.values():
            w = plane.largest("w", hs, w_cap, capacity)
            w_all.append(count_side(width, w[w > 0]))
            h_all.append(hs[w > 0])
            h = plane.largest("h", ws, h_cap, capacity)
            w_all.append(ws[h > 0])
            h_all.append(count_side(height, h[h > 0]))
        w, h = np.concatenate(w_all), np.concatenate(h_all)
        keep = np.minimum(w, h) >= min(min_side, width, height)
        if around is not None:
            keep &= (around.w // 2 < w) & (w < 2 * around.w)
            keep &= (around.h // 2 < h) & (h < 2 * around.h)
        w, h = w[keep], h[keep]
        tiles = (-(-width // w)) * (-(-height // h))
        order = np.lexsort((-w, -w * h, tiles))
        w, h = w[order], h[order]
        # The order is total, so a shape listed twice is listed in a row.
        new = np.r_[True, (w[1:] != w[:-1]) | (h[1:] != h[:-1])]
        return w[new], h[new]


def _best_traversal(search: _Search, raster: Choice) -> Choice:
    """The cheapest traversal for a costed raster choice.

    On a single row or column of tiles every order is the same
    sequence, and where no load depends on the neighbouring tile no
    order can change the cost: then raster stands.
    """
    grain = raster.grain
    nw, nh = raster.cost.tiles
    if nw == 1 or nh == 1 or not traversal_matters(search.view, grain):
        return raster
    best = raster
    for name in TRAVERSALS[1:]:
        cost = search.cost(grain, name)
        if cost.latency < best.latency:
            best = Choice(grain, name, cost)
    return best


def _rank(view: SubgraphView, choice: Choice) -> tuple[float, int]:
    """Latency, then working set: of two choices equal but for rounding
    (k = 131 and k = 128 both cut K = 512 into 4 steps), the smaller one
    leaves room to retain a tensor."""
    return round(choice.latency, 6), view.working_set(choice.grain)


def _traffic_terms(view: SubgraphView, single: bool) -> tuple[Terms, int]:
    """Per tensor, each use's floor as (constant, per tile column, per
    tile row), and the constant for the stores; see :func:`_traffic_floor`.
    """
    p = view.problem
    width, height = view.grid_shape
    area = width * height
    per_tensor: dict[int, list[tuple[int, int, int]]] = {}
    for u in view.uses:
        k_ref = view.k_den(u.op) if u.k_op else 0
        kind = u.kind
        if kind is Kind.PW:
            term = (area, 0, 0)
        elif kind is Kind.LHS:
            rows = height * k_ref
            term = (rows, 0, 0) if single else (0, rows, 0)
        elif kind is Kind.RHS:
            cols = k_ref * width
            term = (cols, 0, 0) if single else (0, 0, cols)
        elif kind is Kind.HL_LHS:
            term = (height * p.k_op[u.op], 0, 0)
        elif kind is Kind.HR_RHS:
            term = (p.k_op[u.op] * width, 0, 0)
        else:
            term = (p.k_op[u.op] * view.k_slicing, 0, 0)
        per_tensor.setdefault(u.tensor, []).append(term)
    terms = tuple(tuple(t) for t in per_tensor.values())
    return terms, len(view.evicted) * area


def _traffic_floor(
    terms: tuple[Terms, int], nw: np.ndarray, nh: np.ndarray
) -> np.ndarray:
    """A lower bound on the elements a subgraph moves on each nw x nh grid.

    Every cell's latency is at least its transfer time, so this over the
    bandwidth bounds the latency from below. Per tensor, only its
    cheapest use counts (uses with equal keys share loads). A MatMul
    operand is reloaded for every tile column (LHS) or row (RHS) unless
    there is a single k-step, when the traversal may reuse one of them.
    Pointwise operands and outputs move their area once.
    """
    uses, stores = terms
    # Most tensors move as much on every grid: they add one number.
    fixed = stores
    grids = []
    for tensor in uses:
        if any(a or b for _, a, b in tensor):
            grids.append([c + a * nw + b * nh for c, a, b in tensor])
        else:
            fixed += min(c for c, _, _ in tensor)
    total = np.full(nw.shape, fixed, dtype=nw.dtype)
    for floors in grids:
        total += np.minimum.reduce(floors)
    return total
