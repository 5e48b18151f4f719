"""The fewest tiles a subgraph holding an op can have (docs §1).

A subgraph's grid is the shape of one of its outputs. Follow an op's
output down ephemeral links inside the subgraph, each one a fusion some
valid subgraph allows (:func:`~mlsched.model.fusible.can_pass_inside`):
the chain ends at an output, whose native tile count bounds the grid's.

Two more facts cut chains short. A subgraph with a *deep* MatMul holds
at most two MatMuls: several k-steps allow one head and one tail or one
standalone (SPEC §4 item 7), and one k-step with three needs every K
equal to k and to the tile width w (§4 item 7), so at most w_native
(§4 item 3), and in strict at most k_native (§8 item 1). Deep is K
above w_native in contest and above k_native in strict. And in strict
a Pointwise output read ephemerally by a deep MatMul c across a native
side needs one k-step, so a tail d of K ≤ k_native that c heads: the
subgraph's MatMuls are then c and d alone, and its grid lies past d,
down Pointwise links only. In contest such a link needs one k-step as
well, and then the MatMul's other operand, if it can never be in fast
memory whole, takes a K-deep slice of the working set: the tile sides
shrink, and the grid has more tiles than its native count. So each op
is followed with the number of MatMuls its chain already holds, whether
one is deep, and the tile sides its links allow.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

from mlsched.model.fusible import can_pass_inside, may_be_ephemeral
from mlsched.model.problem import Problem
from mlsched.model.types import Rules


class Chain(NamedTuple):
    """What a chain holds so far: MatMuls (3 standing for more), whether
    one of them is deep (K above w_native in contest, above k_native in
    strict), and the widest tile width and height its links allow
    (:meth:`Chains.narrowing`; 0 for no limit, -1 where none fits)."""

    matmuls: int
    deep: bool
    w: int = 0
    h: int = 0


def native_tiles(problem: Problem, t: int) -> int:
    """Fewest tiles a subgraph whose outputs have tensor t's shape runs."""
    return shape_tiles(problem, problem.widths[t], problem.heights[t])


def shape_tiles(problem: Problem, width: int, height: int) -> int:
    """Fewest tiles a subgraph whose outputs are ``width`` by ``height``
    runs: its native tile count."""
    w_native, h_native = problem.native_granularity
    return -(-width // w_native) * -(-height // h_native)


class Chains:
    """Fewest tiles of a subgraph holding an op, per chain state.

    Parameters
    ----------
    problem
        The problem.
    rules
        ``"strict"`` or ``"contest"`` (where a deep MatMul is one of K
        above w_native, and no link crosses a native side).
    """

    def __init__(self, problem: Problem, rules: Rules) -> None:
        self.problem = problem
        self.rules = rules
        p = problem
        # Above this K a MatMul is deep: a subgraph of three MatMuls
        # needs every K equal to the tile width, and in strict to k too.
        self._deep_k = (
            p.k_native if rules == "strict" else p.native_granularity[0]
        )
        # Every link some valid subgraph allows: (reader, tensor).
        self._links = {
            o: [
                (c, t)
                for t in p.outputs[o]
                if may_be_ephemeral(p, rules, o, t)
                for c in p.consumers[t]
                if can_pass_inside(p, rules, o, c, t)
            ]
            for o in range(p.num_ops)
        }
        # Per link, whether it crosses a native side (see across_side)
        # and the tile sides it allows (see narrowing).
        self._across = {
            o: [self.across_side(o, c, t) for c, t in self._links[o]]
            for o in range(p.num_ops)
        }
        self._narrow = {
            o: [self.narrowing(o, c, t) for c, t in self._links[o]]
            for o in range(p.num_ops)
        }
        self._states = _states(
            {w for links in self._narrow.values() for w, _ in links},
            {h for links in self._narrow.values() for _, h in links},
        )
        self._tails: dict[int, float] = {}
        self._fewest: dict[tuple[int, Chain], float] = {}
        # Per op and chain state, the links a subgraph allows (_steps).
        self._allowed: dict[tuple[int, Chain], list[tuple[int, Chain]]] = {}
        for o in reversed(p.topological_order):
            for chain in self._states:
                fewest: float = min(
                    self.tiles(p.widths[t], p.heights[t], chain)
                    for t in p.outputs[o]
                )
                steps = self._allowed[o, chain] = self._steps(o, chain)
                for c, after in steps:
                    tiles = (
                        self._tail_grid(c)
                        if after is _HEADS
                        else self._fewest[c, after]
                    )
                    fewest = min(fewest, tiles)
                self._fewest[o, chain] = fewest

    @functools.cached_property
    def past(self) -> ShapesPast:
        """:func:`shapes_past` of the problem."""
        return shapes_past(self.problem)

    def links(self, o: int) -> list[tuple[int, int]]:
        """Every (reader, tensor) that some valid subgraph lets ``o``'s
        output reach ephemerally."""
        return self._links[o]

    def start(self, o: int) -> Chain:
        """The chain of ``o`` alone."""
        return self._with(Chain(0, False), o)

    def via(self, o: int, c: int, t: int, chain: Chain) -> float:
        """Fewest tiles of a subgraph where ``o``'s output ``t`` is an
        ephemeral input of ``c``, ``o``'s chain being ``chain`` (inf if
        no valid subgraph has that)."""
        if (c, t) not in self._links[o]:
            return math.inf
        after = self._after(
            chain, c, self.across_side(o, c, t), self.narrowing(o, c, t)
        )
        if after is None:
            return math.inf
        if after is _HEADS:
            return self._tail_grid(c)
        return self._fewest[c, after]

    def _steps(self, o: int, chain: Chain) -> list[tuple[int, Chain]]:
        """Each link of ``o`` that a subgraph with o's chain ``chain``
        allows: the reader and the chain past it."""
        steps = []
        for (c, _), across, sides in zip(
            self._links[o], self._across[o], self._narrow[o]
        ):
            after = self._after(chain, c, across, sides)
            if after is not None:
                steps.append((c, after))
        return steps

    def _after(
        self, chain: Chain, c: int, across: bool, sides: tuple[int, int]
    ) -> Chain | None:
        """The chain once a link passes into ``c`` (``across``: crossing
        a native side; ``sides``: the tile sides it allows): None where
        no valid subgraph allows it, :data:`_HEADS` where c must head a
        tail of small K."""
        after = self._with(chain, c, sides)
        if after.matmuls >= 3 and after.deep:
            return None
        if across:
            # c must head a tail of small K: only chains of c alone.
            return _HEADS if chain.matmuls == 0 else None
        return after

    def _with(
        self, chain: Chain, c: int, sides: tuple[int, int] = (0, 0)
    ) -> Chain:
        """``chain`` with op ``c`` added, through a link that allows tile
        sides ``sides``."""
        p = self.problem
        matmul = p.is_matmul[c]
        return Chain(
            min(3, chain.matmuls + matmul),
            chain.deep or (matmul and p.k_op[c] > self._deep_k),
            _least(chain.w, sides[0]),
            _least(chain.h, sides[1]),
        )

    def across_side(self, o: int, c: int, t: int) -> bool:
        """Whether Pointwise ``o`` feeds MatMul ``c`` across a native side
        shorter than c's K (strict): only one k-step allows it."""
        p = self.problem
        if self.rules != "strict" or p.is_matmul[o] or not p.is_matmul[c]:
            return False
        w_native, h_native = p.native_granularity
        lhs, rhs = p.inputs[c]
        k = p.k_op[c]
        return (t == lhs and k > w_native) or (t == rhs and k > h_native)

    def narrowing(self, o: int, c: int, t: int) -> tuple[int, int]:
        """The widest tile (width, height) of a subgraph where Pointwise
        ``o``'s output t is an ephemeral operand of MatMul ``c`` (0: no
        limit, -1: no subgraph). Contest only: in strict such a link
        needs a tail of small K (:meth:`across_side`).

        Let c's K exceed both native sides and its other operand x be a
        graph input of at least the capacity. With several k-steps t
        would need w >= K (LHS) or h >= K (RHS) (SPEC §4 item 7), so
        there is one, and k >= K. Three MatMuls or a middle one would
        then need w = K; c is no tail (x is no MatMul's output), so it
        runs standalone, or heads one tail. x is never kept (a graph
        input) nor ephemeral, so its use is in the working set (§6):
        for an RHS x, K x w standalone or heading the tail's RHS, and
        all of x heading its LHS (K by the tail's K, c's output width),
        which does not fit. So K x w plus an output slice fits the
        capacity: w <= (capacity - 1) // K. For an LHS x, h likewise.
        """
        p = self.problem
        if self.rules != "contest" or p.is_matmul[o] or not p.is_matmul[c]:
            return 0, 0
        k = p.k_op[c]
        lhs, rhs = p.inputs[c]
        if k <= max(p.native_granularity) or lhs == rhs:
            return 0, 0
        w_native, h_native = p.native_granularity
        side = (p.fast_memory_capacity - 1) // k
        if t == lhs and self._held_out(rhs):
            return _limit(side, w_native), 0
        if t == rhs and self._held_out(lhs):
            return 0, _limit(side, h_native)
        return 0, 0

    def _held_out(self, t: int) -> bool:
        """Whether t is never in fast memory whole: a graph input of at
        least the capacity."""
        p = self.problem
        return t in p.graph_inputs and p.sizes[t] >= p.fast_memory_capacity

    def tiles(self, width: int, height: int, chain: Chain) -> float:
        """Fewest tiles of a ``width`` x ``height`` grid with the tile
        sides ``chain`` allows (inf where none is allowed)."""
        w_native, h_native = self.problem.native_granularity
        if chain.w < 0 or chain.h < 0:
            return math.inf
        w = min(w_native, chain.w or w_native)
        h = min(h_native, chain.h or h_native)
        return -(-width // w) * -(-height // h)

    def _tail_grid(self, c: int) -> float:
        """Fewest native tiles of a grid past a tail of small K that
        ``c`` heads, down Pointwise links only."""
        if c not in self._tails:
            p = self.problem
            self._tails[c] = min(
                (shape_tiles(p, w, h) for w, h in self._tail_shapes(c)),
                default=math.inf,
            )
        return self._tails[c]

    def _tail_shapes(self, c: int) -> set[tuple[int, int]]:
        """The grids past a tail of small K that ``c`` heads, down
        Pointwise links only."""
        p = self.problem
        return {
            (g.width, g.height)
            for d, _ in self._links[c]
            if p.is_matmul[d] and p.k_op[d] <= p.k_native
            for g in pointwise_shapes(p, d, self.past)
        }

    def reach(self, o: int) -> frozenset[tuple[int, int]]:
        """Every grid, as (width, height), a valid subgraph holding ``o``
        may have (a superset): the shapes of o's outputs and of outputs
        down the links a subgraph with o's chain allows, with the same
        limits as the tile counts."""
        return self._reaches[o, self.start(o)]

    @functools.cached_property
    def _reaches(self) -> dict[tuple[int, Chain], frozenset[tuple[int, int]]]:
        """:meth:`reach` of every op in every chain state."""
        p = self.problem
        table: dict[tuple[int, Chain], frozenset[tuple[int, int]]] = {}
        for o in reversed(p.topological_order):
            own = {(p.widths[t], p.heights[t]) for t in p.outputs[o]}
            for chain in self._states:
                shapes = set(own)
                for c, after in self._allowed[o, chain]:
                    if after is _HEADS:
                        shapes |= self._tail_shapes(c)
                    else:
                        shapes |= table[c, after]
                table[o, chain] = frozenset(shapes)
        return table


def _limit(side: int, native: int) -> int:
    """A side limit as a chain keeps it: 0 if the native side fits, -1
    if no side does."""
    if side >= native:
        return 0
    return side if side > 0 else -1


def _least(a: int, b: int) -> int:
    """The tighter of two side limits (0: none; -1: no side fits)."""
    if a == 0 or b == 0:
        return a or b
    return min(a, b)


def _states(ws: set[int], hs: set[int]) -> tuple[Chain, ...]:
    """Every chain state, given the side limits links set."""
    return tuple(
        Chain(n, deep, w, h)
        for n in range(4)
        for deep in (False, True)
        for w in sorted(ws | {0})
        for h in sorted(hs | {0})
    )


#: Not a chain state: the step where a MatMul must head a tail of small K.
_HEADS = Chain(-1, True)


class Shape(NamedTuple):
    """A tensor shape, and whether a tensor of it is always evicted
    (a graph output, or at least the capacity: strict keeps neither)."""

    width: int
    height: int
    evicted: bool


#: Per produced tensor, the shapes of it and of every tensor Pointwise
#: ops make from it.
ShapesPast = dict[int, frozenset[Shape]]


def pointwise_shapes(p: Problem, o: int, past: ShapesPast) -> set[Shape]:
    """The shapes of ``o``'s outputs and of every tensor Pointwise ops
    make from them (``past``: :func:`shapes_past` of ``p``)."""
    return set().union(*(past[t] for t in p.outputs[o]))


def shapes_past(p: Problem) -> ShapesPast:
    """:data:`ShapesPast` of ``p``, built once in one backward pass (a
    walk per op would cross whole residual streams)."""
    past: ShapesPast = {}
    for x in reversed(p.topological_order):
        for t in p.outputs[x]:
            own = Shape(
                p.widths[t],
                p.heights[t],
                t in p.graph_outputs or p.sizes[t] >= p.fast_memory_capacity,
            )
            later = [
                past[u]
                for c in p.consumers[t]
                if not p.is_matmul[c]
                for u in p.outputs[c]
            ]
            past[t] = frozenset({own}.union(*later))
    return past
