"""The exact optimum of tiny problems, over every valid schedule.

Unlike the column enumeration of ``tests/solver/test_model.py`` (which
only combines the solver's columns), :func:`optimum` searches every
schedule: every sequence of subgraphs (recomputation included), every op
order inside a subgraph, every retained set, every granularity and every
tile order. It is a shortest path (Dijkstra; every subgraph costs more
than 0) over states that hold everything the rules look at across
subgraphs:

- the ops covered so far (SPEC §4 item 2);
- the tensors retained by the previous subgraph (P, §4 item 5, §7);
- strict only, the tensors written to slow memory so far (§8 item 5);
- the (producer, consumer) pairs that met in some subgraph so far, and
  those a hidden tensor obliges to meet (§4 item 6).

Granularities: w <= w_native, h <= h_native and k up to the largest K of
the subgraph (a larger k changes nothing: every k >= K_slicing gives one
k-step, the same slices and the same working set, or breaks the square
chain rule), and k <= k_native in strict. Tile orders: the cost of a
tile depends only on the tile before it (the last key of a tensor is set
by the previous tile's cells, SPEC §5.2), so the cheapest order is a
shortest Hamiltonian path, found by dynamic programming over subsets.

Pruning, exact: every cell costs at least its compute time, and the
k-steps of a tile share out each op's base cost in full (SPEC §5.1), so
a subgraph of n tiles costs at least n times the sum of its base costs.
The search costs a subgraph only once its start's distance plus that
floor (at one tile) reaches the head of the queue, and a granularity is
checked and costed only if its floor is below the best one found for the
same subgraph: neither skips anything that could lower the optimum.

Problems are kept tiny (sides 1..3, native sides 2..3, <= 4 ops) so that
grids have at most 9 tiles.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import weakref
from functools import cache
from typing import Any

import numpy as np
from generators import hand_problem

from mlsched import Problem
from mlsched.model.cost import reference_cost, traversal_matters, view_cost
from mlsched.model.evaluate import subgraph_violation
from mlsched.model.subgraph import Grain, SubgraphView


def tiny_problem(rng: random.Random) -> dict[str, Any]:
    """A random problem of 2-4 ops on sides 1..3 (contest JSON dict)."""
    widths: list[int] = []
    heights: list[int] = []
    inputs: list[list[int]] = []
    outputs: list[list[int]] = []
    kinds: list[str] = []
    made: list[int] = []

    def tensor(w: int, h: int) -> int:
        widths.append(w)
        heights.append(h)
        return len(widths) - 1

    def side() -> int:
        return rng.randint(1, 3)

    def pick(pred: Any) -> int | None:
        pool = [t for t in range(len(widths)) if pred(t)]
        made_pool = [t for t in pool if t in made]
        if made_pool and rng.random() < 0.7:
            return rng.choice(made_pool)
        return rng.choice(pool) if pool and rng.random() < 0.4 else None

    for _ in range(rng.randint(2, 4)):
        if rng.random() < 0.5:
            lhs = pick(lambda t: True)
            if lhs is None:
                lhs = tensor(side(), side())
            k_dim = widths[lhs]
            rhs = pick(lambda t, k=k_dim: heights[t] == k)
            if rhs is None:
                rhs = tensor(side(), k_dim)
            out = tensor(widths[rhs], heights[lhs])
            kinds.append("MatMul")
            inputs.append([lhs, rhs])
        else:
            first = pick(lambda t: True)
            if first is None:
                first = tensor(side(), side())
            ins = [first]
            shape = (widths[first], heights[first])
            other = pick(
                lambda t, s=shape, f=first: (
                    (widths[t], heights[t]) == s and t != f
                )
            )
            if other is not None and rng.random() < 0.5:
                ins.append(other)
            out = tensor(widths[first], heights[first])
            kinds.append("Pointwise")
            inputs.append(ins)
        outputs.append([out])
        made.append(out)
    native = rng.choice(((2, 2), (3, 2), (2, 3), (3, 3)))
    return {
        "widths": widths,
        "heights": heights,
        "inputs": inputs,
        "outputs": outputs,
        "base_costs": [rng.randint(1, 30) for _ in kinds],
        "op_types": kinds,
        "fast_memory_capacity": rng.randint(6, 40),
        "slow_memory_bandwidth": rng.choice((1, 2, 3)),
        "native_granularity": list(native),
    }


def pair_problem(rng: random.Random) -> dict[str, Any]:
    """A random problem where two MatMuls of K 3 or 4 (native 2 or 3)
    on graph inputs, one of them maybe fed by a Pointwise op, make the
    two operands of a third MatMul of K 1 whose grid has more tiles than
    either, maybe followed by a Pointwise op (contest JSON dict)."""
    h, w = rng.randint(3, 4), rng.randint(3, 4)
    ka, kb = rng.choice((3, 4)), rng.choice((3, 4))
    shapes: list[tuple[int, int]] = []

    def tensor(height: int, width: int) -> int:
        shapes.append((height, width))
        return len(shapes) - 1

    ops: list[tuple[str, list[int], int, int]] = []
    left = tensor(h, ka)
    if rng.random() < 0.5:
        source = tensor(ka, h) if rng.random() < 0.5 else tensor(h, ka)
        ops.append(("Pointwise", [source], left, rng.randint(1, 20)))
    a = tensor(h, 1)
    ops.append(("MatMul", [left, tensor(ka, 1)], a, rng.randint(1, 6)))
    b = tensor(1, w)
    ops.append(
        ("MatMul", [tensor(1, kb), tensor(kb, w)], b, rng.randint(1, 6))
    )
    c = tensor(h, w)
    ops.append(("MatMul", [a, b], c, rng.randint(1, 30)))
    if rng.random() < 0.4:
        ops.append(("Pointwise", [c], tensor(h, w), rng.randint(1, 20)))
    problem = hand_problem(shapes, ops, rng.randint(6, 24))
    problem["slow_memory_bandwidth"] = 1
    problem["native_granularity"] = list(rng.choice(((2, 2), (3, 2), (2, 3))))
    return problem


def path_problem(rng: random.Random) -> dict[str, Any]:
    """A random problem where two MatMuls of K 3 or 4 (native 2 or 3) on
    graph inputs make the two inputs of a Pointwise op, one of them maybe
    through another Pointwise op, maybe followed by a Pointwise op or a
    MatMul (contest JSON dict)."""
    h, w = rng.randint(2, 4), rng.randint(2, 4)
    shapes: list[tuple[int, int]] = []

    def tensor(height: int, width: int) -> int:
        shapes.append((height, width))
        return len(shapes) - 1

    ops: list[tuple[str, list[int], int, int]] = []
    made = []
    for _ in range(2):
        k = rng.choice((3, 4))
        out = tensor(h, w)
        ops.append(
            ("MatMul", [tensor(h, k), tensor(k, w)], out, rng.randint(1, 6))
        )
        made.append(out)
    if rng.random() < 0.5:
        passed = tensor(h, w)
        ops.append(("Pointwise", [made[0]], passed, rng.randint(1, 6)))
        made[0] = passed
    c = tensor(h, w)
    ops.append(("Pointwise", made, c, rng.randint(1, 6)))
    after = rng.random()
    if after < 0.3:
        ops.append(("Pointwise", [c], tensor(h, w), rng.randint(1, 6)))
    elif after < 0.6:
        right = tensor(w, rng.randint(1, 2))
        ops.append(("MatMul", [c, right], tensor(h, shapes[right][1]), 3))
    problem = hand_problem(shapes, ops, rng.randint(4, 16))
    problem["slow_memory_bandwidth"] = 1
    problem["native_granularity"] = list(rng.choice(((2, 2), (3, 2), (2, 3))))
    return problem


def narrow_problem(rng: random.Random) -> dict[str, Any]:
    """A random problem where a Pointwise op makes one operand of a
    MatMul whose K (up to 6) exceeds both native sides (2 or 3) and
    whose other operand is a graph input of at least the capacity,
    maybe followed by a Pointwise op (contest JSON dict)."""
    native = (rng.randint(2, 3), rng.randint(2, 3))
    k = rng.randint(max(native) + 1, 6)
    h, w = rng.randint(1, 3), rng.randint(1, 3)
    lhs = rng.random() < 0.5
    made = (h, k) if lhs else (k, w)
    other = (k, w) if lhs else (h, k)
    shapes = [made, made, other, (h, w)]
    operands = [1, 2] if lhs else [2, 1]
    ops = [
        ("Pointwise", [0], 1, rng.randint(1, 1000)),
        ("MatMul", operands, 3, rng.randint(1, 1000)),
    ]
    if rng.random() < 0.5:
        shapes.append((h, w))
        ops.append(("Pointwise", [3], 4, rng.randint(1, 100)))
    capacity = rng.randint(k + 2, max(k + 2, other[0] * other[1]))
    problem = hand_problem(shapes, ops, capacity)
    problem["slow_memory_bandwidth"] = rng.choice((1, 10, 10**6))
    problem["native_granularity"] = list(native)
    return problem


def held_chain_problem(rng: random.Random) -> dict[str, Any]:
    """A random problem where a MatMul whose RHS is a graph input of at
    least the capacity feeds, through a Pointwise op, the LHS of a
    MatMul of K above the native width whose RHS is such an input too,
    maybe followed by a Pointwise op (contest JSON dict)."""
    native = (rng.randint(2, 3), rng.randint(2, 3))
    k1, k2 = rng.randint(1, 4), rng.randint(native[0] + 1, 5)
    h, w = rng.randint(1, 3), rng.randint(1, 3)
    shapes = [(h, k1), (k1, k2), (h, k2), (h, k2), (k2, w), (h, w)]
    ops = [
        ("MatMul", [0, 1], 2, rng.randint(1, 1000)),
        ("Pointwise", [2], 3, rng.randint(1, 100)),
        ("MatMul", [3, 4], 5, rng.randint(1, 1000)),
    ]
    if rng.random() < 0.5:
        shapes.append((h, w))
        ops.append(("Pointwise", [5], 6, rng.randint(1, 100)))
    held = min(k1 * k2, k2 * w)
    capacity = rng.randint(min(held, k2 + 2), held)
    problem = hand_problem(shapes, ops, capacity)
    problem["slow_memory_bandwidth"] = rng.choice((1, 10, 10**6))
    problem["native_granularity"] = list(native)
    return problem


def _orders(p: Problem, ops: frozenset[int]) -> list[tuple[int, ...]]:
    """Every producer-before-consumer order of ``ops``."""
    found = []
    for perm in itertools.permutations(sorted(ops)):
        pos = {o: i for i, o in enumerate(perm)}
        if all(
            pos.get(p.producer.get(t, -1), -1) < pos[o]
            for o in perm
            for t in p.inputs[o]
        ):
            found.append(perm)
    return found


def _best_order_cost(view: SubgraphView, grain: Grain) -> float:
    """The cheapest latency over every tile order (Held-Karp)."""
    nw, nh = view.grid(grain)
    n = nw * nh
    width, height = view.grid_shape
    # A tile run first costs what its shape costs: memory starts empty.
    first: dict[tuple[int, int], float] = {}

    def lone(i: int) -> float:
        r, c = divmod(i, nw)
        key = (
            min(grain.h, height - r * grain.h),
            min(grain.w, width - c * grain.w),
        )
        if key not in first:
            first[key] = reference_cost(view, grain, [i]).latency
        return first[key]

    alone = np.array([lone(i) for i in range(n)])
    if n == 1:
        return float(alone[0])
    # A tile's cost after another depends only on its own shape and on
    # which of row and column it shares with that one.
    memo: dict[tuple[int, int, bool, bool], float] = {}

    def follow(j: int, i: int) -> float:
        (rj, cj), (ri, ci) = divmod(j, nw), divmod(i, nw)
        key = (
            min(grain.h, height - ri * grain.h),
            min(grain.w, width - ci * grain.w),
            ri == rj,
            ci == cj,
        )
        if key not in memo:
            pair = reference_cost(view, grain, [j, i]).latency
            memo[key] = pair - alone[j]
        return memo[key]

    after = np.array([[follow(j, i) for i in range(n)] for j in range(n)])
    return _shortest_path(alone.tobytes(), after.tobytes(), n)


@cache
def _shortest_path(alone_raw: bytes, after_raw: bytes, n: int) -> float:
    """Held-Karp: the cheapest order of n tiles with these costs."""
    alone = np.frombuffer(alone_raw)
    after = np.frombuffer(after_raw).reshape(n, n)
    best = np.full((1 << n, n), np.inf)
    for i in range(n):
        best[1 << i, i] = alone[i]
    for mask in range(1, 1 << n):
        # via[last, nxt]: reach nxt from a path over mask ending at last.
        via = (best[mask][:, None] + after).min(axis=0)
        for nxt in range(n):
            if not mask >> nxt & 1:
                key = mask | 1 << nxt
                best[key, nxt] = min(best[key, nxt], via[nxt])
    return float(best[(1 << n) - 1].min())


#: Per problem, the cheapest latency over tile orders of each subgraph
#: (ops, retained in, retained out) at each granularity.
_LATENCIES: weakref.WeakKeyDictionary[
    Problem, dict[tuple[Any, ...], float]
] = weakref.WeakKeyDictionary()


class _Search:
    """Dijkstra over schedule prefixes of one problem and profile."""

    def __init__(self, p: Problem, rules: str) -> None:
        self.p = p
        self.rules = rules
        self.edges = frozenset(
            (p.producer[t], c) for t in p.producer for c in p.consumers[t]
        )
        subsets = [
            frozenset(c)
            for r in range(1, p.num_ops + 1)
            for c in itertools.combinations(range(p.num_ops), r)
        ]
        self.orders = [o for s in subsets for o in _orders(p, s)]
        self.cost = cache(self._cost)
        self.moves = cache(self._moves)
        self.meet = {
            frozenset(o): frozenset(
                (a, b) for a, b in self.edges if a in o and b in o
            )
            for o in self.orders
        }

    def _grains(self, ops: tuple[int, ...]) -> list[Grain]:
        p = self.p
        k_top = max(1, *(p.k_op[o] for o in ops))
        if self.rules == "strict":
            k_top = min(k_top, p.k_native)
        w_n, h_n = p.native_granularity
        return [
            Grain(w, h, k)
            for w in range(1, w_n + 1)
            for h in range(1, h_n + 1)
            for k in range(1, k_top + 1)
        ]

    def _cost(
        self,
        ops: tuple[int, ...],
        retain_in: frozenset[int],
        retain_out: frozenset[int],
    ) -> float:
        """The cheapest latency of one subgraph over grains and orders."""
        view = SubgraphView(self.p, ops, retain_out, retain_in)
        # Latencies do not depend on the profile: both share them.
        shared = _LATENCIES.setdefault(self.p, {})
        floor = self._floor(ops)
        tiled = [(math.prod(view.grid(g)), g) for g in self._grains(ops)]
        best = math.inf
        # Fewest tiles first: the best found early skips the grains
        # whose compute floor alone cannot beat it.
        for tiles, grain in sorted(tiled, key=lambda tg: tg[0]):
            if tiles * floor > best:
                continue
            if subgraph_violation(view, grain, self.rules) is not None:
                continue
            key = (ops, retain_in, retain_out, grain)
            if key not in shared:
                shared[key] = (
                    _best_order_cost(view, grain)
                    if traversal_matters(view, grain)
                    else view_cost(view, grain).latency
                )
            best = min(best, shared[key])
        return best

    def _floor(self, ops: tuple[int, ...]) -> float:
        """A lower bound on the latency of one tile of ``ops``.

        Every cell costs at least its compute time (SPEC §5), which does
        not depend on the tile's size, and the k-steps of a tile share
        each op's base cost out in full (SPEC §5.1): a subgraph of n
        tiles costs at least n times the sum of its base costs. The
        margin covers the rounding of those shares.
        """
        return sum(self.p.base_costs[o] for o in ops) * (1 - 1e-9)

    def _retains(
        self, view: SubgraphView, retain_in: frozenset[int]
    ) -> list[frozenset[int]]:
        p = self.p
        if self.rules == "strict":
            pool = [t for t in view.produced if t not in p.graph_outputs]
        else:
            pool = [t for t in set(view.produced) | retain_in]
        return [
            frozenset(c)
            for r in range(len(pool) + 1)
            for c in itertools.combinations(sorted(pool), r)
        ]

    def _moves(
        self, ops: tuple[int, ...], retain_in: frozenset[int]
    ) -> list[tuple[float, frozenset[int], frozenset[Any], frozenset[int]]]:
        """(cost, R, owed pairs, evicted) of every valid R for ``ops``."""
        p = self.p
        opset = frozenset(ops)
        probe = SubgraphView(p, ops, (), retain_in)
        moves = []
        for retain_out in self._retains(probe, retain_in):
            cost = self.cost(ops, retain_in, retain_out)
            if not math.isfinite(cost):
                continue
            view = SubgraphView(p, ops, retain_out, retain_in)
            owed = frozenset(
                (p.producer[t], c)
                for t in view.ephemeral
                for c in p.consumers[t]
                if c not in opset
            )
            moves.append((cost, retain_out, owed, frozenset(view.evicted)))
        return moves

    def _subgraphs(self, state: tuple[Any, ...]) -> Any:
        """Every op order that can run next after ``state``."""
        _, retain_in, evicted, _, _ = state
        for ops in self.orders:
            if self.rules != "strict" or self._available(
                ops, retain_in, evicted
            ):
                yield ops

    def _steps(self, state: tuple[Any, ...], ops: tuple[int, ...]) -> Any:
        """(cost, next state) of every valid way to run ``ops`` next."""
        covered, retain_in, evicted, met, owed = state
        opset = frozenset(ops)
        new_met = met | self.meet[opset]
        for cost, retain_out, more_owed, out in self.moves(ops, retain_in):
            yield (
                cost,
                (
                    covered | opset,
                    retain_out,
                    evicted | out if self.rules == "strict" else evicted,
                    new_met,
                    owed | more_owed,
                ),
            )

    def _available(
        self,
        ops: tuple[int, ...],
        retain_in: frozenset[int],
        evicted: frozenset[int],
    ) -> bool:
        p = self.p
        produced = {t for o in ops for t in p.outputs[o]}
        return all(
            t in produced
            or t in retain_in
            or t in p.graph_inputs
            or t in evicted
            for o in ops
            for t in p.inputs[o]
        )

    def run(self) -> float:
        every = frozenset(range(self.p.num_ops))
        empty: frozenset[Any] = frozenset()
        start = (empty, empty, empty, empty, empty)
        done: set[tuple[Any, ...]] = set()
        # (key, tick, dist, state, ops): with ops None, ``state`` reached
        # at ``dist``; else ``ops`` to run after the settled ``state``,
        # keyed by a bound below every cost of theirs (:meth:`_floor`),
        # so that they are costed only if that bound can be the optimum.
        heap: list[tuple[Any, ...]] = [(0.0, 0, 0.0, start, None)]
        tick = itertools.count(1)
        while heap:
            _, _, dist, state, ops = heapq.heappop(heap)
            if ops is not None:
                for cost, nxt in self._steps(state, ops):
                    if nxt not in done:
                        key = dist + cost
                        heapq.heappush(heap, (key, next(tick), key, nxt, None))
                continue
            if state in done:
                continue
            done.add(state)
            covered, _, _, met, owed = state
            if covered == every and owed <= met:
                return dist
            for ops in self._subgraphs(state):
                key = dist + self._floor(ops)
                heapq.heappush(heap, (key, next(tick), dist, state, ops))
        return math.inf


def optimum(problem: Problem, rules: str) -> float:
    """The least latency of any valid schedule (inf if there is none)."""
    return _Search(problem, rules).run()
