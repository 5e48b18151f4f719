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
down Pointwise links only. In contest a Pointwise output read
ephemerally by a MatMul across a native side shorter than its K needs
one k-step too (several would need w or h >= K), and then every operand
of the chain's MatMuls that can never be in fast memory whole takes a
K-deep slice of the working set: the tiles shrink, and the grid has
more of them than its native count. So each op
is followed with the number of MatMuls its chain already holds, whether
one is deep, whether a link needs one k-step, and the slices its
MatMuls' held-out operands take per unit of tile width and height. The
states are the ones some chain reaches (a pass in topological order),
and the fewest tiles are found per state in reverse.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

from mlsched.model.fusible import (
    can_pass_inside,
    may_be_ephemeral,
    square_k,
)
from mlsched.model.problem import Problem
from mlsched.model.types import Rules


class Chain(NamedTuple):
    """What a chain holds so far: MatMuls (3 standing for more), whether
    one of them is deep (K above w_native in contest, above k_native in
    strict), whether one of its links needs one k-step, and the K-deep
    slices its MatMuls' held-out operands then take of the working set,
    per unit of tile width and of tile height (:meth:`Chains.held`)."""

    matmuls: int
    deep: bool
    one_step: bool = False
    per_w: int = 0
    per_h: int = 0


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
        above w_native, and a link across a native side needs one k-step
        instead of a tail of small K).
    """

    def __init__(self, problem: Problem, rules: Rules) -> None:
        self.problem = problem
        self.rules = rules
        p = problem
        # Above this K a MatMul is deep: in no chain of three MatMuls.
        self._deep_k = square_k(p, rules)
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
        # and whether it needs one k-step (see one_step).
        self._across = {
            o: [self.across_side(o, c, t) for c, t in self._links[o]]
            for o in range(p.num_ops)
        }
        self._one_step = {
            o: [self.one_step(o, c, t) for c, t in self._links[o]]
            for o in range(p.num_ops)
        }
        self._tails: dict[int, float] = {}
        self._grid_tiles: dict[tuple[int, int, int, int], float] = {}
        # Per op, every chain state some chain reaches it in, and per op
        # and state the links a subgraph allows (_steps).
        self._states: dict[int, set[Chain]] = {
            o: set() for o in range(p.num_ops)
        }
        self._allowed: dict[tuple[int, Chain], list[tuple[int, Chain]]] = {}
        for o in p.topological_order:
            self._states[o].add(self.start(o))
            for chain in self._states[o]:
                steps = self._allowed[o, chain] = self._steps(o, chain)
                for c, after in steps:
                    if after is not _HEADS:
                        self._states[c].add(after)
        self._fewest: dict[tuple[int, Chain], float] = {}
        for o in reversed(p.topological_order):
            for chain in self._states[o]:
                fewest: float = min(
                    self.tiles(p.widths[t], p.heights[t], chain)
                    for t in p.outputs[o]
                )
                for c, after in self._allowed[o, chain]:
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
        i = self._links[o].index((c, t))
        after = self._after(chain, c, self._across[o][i], self._one_step[o][i])
        if after is None:
            return math.inf
        if after is _HEADS:
            return self._tail_grid(c)
        return self._fewest[c, after]

    def _steps(self, o: int, chain: Chain) -> list[tuple[int, Chain]]:
        """Each link of ``o`` that a subgraph with o's chain ``chain``
        allows: the reader and the chain past it."""
        steps = []
        for (c, _), across, one in zip(
            self._links[o], self._across[o], self._one_step[o]
        ):
            after = self._after(chain, c, across, one)
            if after is not None:
                steps.append((c, after))
        return steps

    def _after(
        self, chain: Chain, c: int, across: bool, one: bool
    ) -> Chain | None:
        """The chain once a link passes into ``c`` (``across``: crossing
        a native side; ``one``: needing one k-step): None where no valid
        subgraph allows it, :data:`_HEADS` where c must head a tail of
        small K."""
        after = self._with(chain, c, one)
        if after.matmuls >= 3 and after.deep:
            return None
        if across:
            # c must head a tail of small K: only chains of c alone.
            return _HEADS if chain.matmuls == 0 else None
        return after

    def _with(self, chain: Chain, c: int, one: bool = False) -> Chain:
        """``chain`` with op ``c`` added, through a link that needs one
        k-step if ``one``."""
        p = self.problem
        matmul = p.is_matmul[c]
        per_w, per_h = chain.per_w, chain.per_h
        if matmul and chain.matmuls < 2:
            # Fewer slices than the subgraph has only lower the count;
            # past two MatMuls the states would multiply for little.
            held_w, held_h = self.held(c)
            per_w, per_h = per_w + held_w, per_h + held_h
        return Chain(
            min(3, chain.matmuls + matmul),
            chain.deep or (matmul and p.k_op[c] > self._deep_k),
            chain.one_step or one,
            per_w,
            per_h,
        )

    def across_side(self, o: int, c: int, t: int) -> bool:
        """Whether Pointwise ``o`` feeds MatMul ``c`` across a native side
        shorter than c's K (strict): only one k-step allows it, which
        needs a tail of small K that c heads."""
        return self.rules == "strict" and self._crosses(o, c, t)

    def one_step(self, o: int, c: int, t: int) -> bool:
        """Whether a subgraph where Pointwise ``o``'s output t is an
        ephemeral operand of MatMul ``c`` across a native side shorter
        than c's K has one k-step (contest; strict: :meth:`across_side`)."""
        return self.rules == "contest" and self._crosses(o, c, t)

    def _crosses(self, o: int, c: int, t: int) -> bool:
        """Whether Pointwise ``o``'s output t reaches MatMul ``c`` across
        a native side shorter than c's K: with several k-steps t would
        need w >= K as c's LHS, h >= K as its RHS (SPEC §4 item 7), and
        w, h are at most the native sides."""
        p = self.problem
        if p.is_matmul[o] or not p.is_matmul[c]:
            return False
        w_native, h_native = p.native_granularity
        lhs, rhs = p.inputs[c]
        k = p.k_op[c]
        return (t == lhs and k > w_native) or (t == rhs and k > h_native)

    def held(self, m: int) -> tuple[int, int]:
        """What MatMul ``m``'s held-out operands take of the working set
        of a one-k-step subgraph, per unit of tile width (its RHS) and
        of tile height (its LHS): K for each that is a graph input of at
        least the capacity, else 0.

        Such an operand x is never kept (a graph input, SPEC §4 item 5)
        nor ephemeral, so its use counts (§6), with k >= K_slicing. A
        standalone m takes K x w of an RHS x (k_eff = K at one k-step),
        a tail or an RHS-head too, a middle one, or any MatMul of three
        or more, K x w as w = k = K for all (§4 item 7); an LHS-head m
        takes K by its tail's K, which is m's output width: all of x,
        which does not fit. An LHS x: h x K likewise.
        """
        p = self.problem
        lhs, rhs = p.inputs[m]
        k = p.k_op[m]
        return (k if self._held_out(rhs) else 0), (
            k if self._held_out(lhs) else 0
        )

    def _held_out(self, t: int) -> bool:
        """Whether t is never in fast memory whole: a graph input of at
        least the capacity."""
        p = self.problem
        return t in p.graph_inputs and p.sizes[t] >= p.fast_memory_capacity

    def tiles(self, width: int, height: int, chain: Chain) -> float:
        """Fewest tiles of a ``width`` x ``height`` grid of a subgraph
        holding ``chain``: the native count, or with one k-step the
        fewest over tiles w x h whose held-out slices and one output
        slice fit the capacity, per_w x w + per_h x h + h x w (inf if
        none does)."""
        if not chain.one_step or not (chain.per_w or chain.per_h):
            return shape_tiles(self.problem, width, height)
        key = (width, height, chain.per_w, chain.per_h)
        if key not in self._grid_tiles:
            self._grid_tiles[key] = self._fewest_fitting(*key)
        return self._grid_tiles[key]

    def _fewest_fitting(
        self, width: int, height: int, per_w: int, per_h: int
    ) -> float:
        """:meth:`tiles` with one k-step, by trying every tile height
        with the widest tile width that fits beside it."""
        p = self.problem
        w_native, h_native = p.native_granularity
        fewest = math.inf
        for h in range(1, min(h_native, height) + 1):
            room = p.fast_memory_capacity - per_h * h
            w = min(w_native, width, room // (per_w + h))
            if w >= 1:
                fewest = min(fewest, -(-width // w) * -(-height // h))
        return fewest

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
            for chain in self._states[o]:
                shapes = set(own)
                for c, after in self._allowed[o, chain]:
                    if after is _HEADS:
                        shapes |= self._tail_shapes(c)
                    else:
                        shapes |= table[c, after]
                table[o, chain] = frozenset(shapes)
        return table


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
