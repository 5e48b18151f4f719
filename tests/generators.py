"""Random contest problems for property tests.

:func:`random_problem` builds a small valid problem (3..14 ops) as a
contest-JSON dict: a random DAG of MatMul and Pointwise ops with MatMul
chains (MM -> MM, MM -> Pointwise -> MM), graph inputs shared by several
ops, tensors read by 2-3 ops, Pointwise ops with 1-3 equal-shape inputs
and odd sizes. The fast-memory capacity is tight (every op alone fits,
but only at small tiles), medium or generous; every generated problem has
a valid schedule in both rule profiles (each op alone fits at the tile
used to size a tight capacity, with k <= min(k_native, K)).

:func:`random_infeasible_problem` adds a wide Pointwise op that fits at
no granularity, not even 1x1 tiles.

:func:`hand_problem` writes a small hand-derived problem from tensor
shapes and op tuples, for tests whose optimum is worked out in a comment.

The module depends on nothing in ``mlsched``: its working-set estimate is
written from SPEC §6, so it cannot share a bug with the code under test.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

#: Tensor sides, including sizes that leave edge tiles at native 128.
SIDES = (64, 96, 128, 130, 200, 256, 384)
#: Native granularities [w, h]; [128, 128] is the common case.
NATIVES = ((128, 128), (128, 128), (128, 128), (64, 128), (128, 64))


@dataclass
class _Builder:
    """A problem under construction."""

    rng: random.Random
    widths: list[int] = field(default_factory=list)
    heights: list[int] = field(default_factory=list)
    inputs: list[list[int]] = field(default_factory=list)
    outputs: list[list[int]] = field(default_factory=list)
    base_costs: list[int] = field(default_factory=list)
    op_types: list[str] = field(default_factory=list)
    graph_inputs: list[int] = field(default_factory=list)
    produced: list[int] = field(default_factory=list)

    def tensor(self, width: int, height: int) -> int:
        """A new tensor id of ``height`` rows and ``width`` columns."""
        self.widths.append(width)
        self.heights.append(height)
        return len(self.widths) - 1

    def graph_input(self, width: int, height: int) -> int:
        """A new graph input tensor."""
        t = self.tensor(width, height)
        self.graph_inputs.append(t)
        return t

    def shape(self, t: int) -> tuple[int, int]:
        """(width, height) of tensor ``t``."""
        return self.widths[t], self.heights[t]

    def existing(self, pred: Any = None) -> list[int]:
        """Tensors ops may read, recent outputs first (they make chains)."""
        pool = list(reversed(self.produced)) + self.graph_inputs
        return [t for t in pool if pred is None or pred(t)]

    def pick(self, pool: list[int]) -> int:
        """A tensor of ``pool``, biased toward its front."""
        i = min(int(self.rng.expovariate(0.8)), len(pool) - 1)
        return pool[i]

    def add_op(self, kind: str, ins: list[int], out: int) -> None:
        """Append an op reading ``ins`` and writing ``out``."""
        self.op_types.append(kind)
        self.inputs.append(ins)
        self.outputs.append([out])
        if kind == "MatMul":
            self.base_costs.append(self.rng.randint(300, 4000))
        else:
            self.base_costs.append(self.rng.randint(20, 1500))
        self.produced.append(out)

    def add_matmul(self) -> None:
        """A MatMul whose LHS and/or RHS may come from earlier ops."""
        rng = self.rng
        side = rng.random()
        lhs = rhs = None
        if side < 0.45 and self.existing():
            lhs = self.pick(self.existing())
        elif side < 0.7 and self.existing():
            rhs = self.pick(self.existing())
        if lhs is not None:
            k_dim = self.widths[lhs]
            same_k = self.existing(
                lambda t: self.heights[t] == k_dim and t != lhs
            )
            if same_k and rng.random() < 0.4:
                rhs = self.pick(same_k)
            else:
                rhs = self.graph_input(rng.choice(SIDES), k_dim)
        elif rhs is not None:
            k_dim = self.heights[rhs]
            same_k = self.existing(
                lambda t: self.widths[t] == k_dim and t != rhs
            )
            if same_k and rng.random() < 0.4:
                lhs = self.pick(same_k)
            else:
                lhs = self.graph_input(k_dim, rng.choice(SIDES))
        else:
            k_dim = rng.choice(SIDES)
            lhs = self.graph_input(k_dim, rng.choice(SIDES))
            rhs = self.graph_input(rng.choice(SIDES), k_dim)
        out = self.tensor(self.widths[rhs], self.heights[lhs])
        self.add_op("MatMul", [lhs, rhs], out)

    def add_pointwise(self) -> None:
        """A Pointwise op with 1-3 distinct inputs of one shape."""
        rng = self.rng
        if self.existing() and rng.random() < 0.85:
            first = self.pick(self.existing())
        else:
            first = self.graph_input(rng.choice(SIDES), rng.choice(SIDES))
        ins = self.same_shape_inputs(first, rng.choice((0, 0, 1, 1, 2)), 0.6)
        self.add_op("Pointwise", ins, self.tensor(*self.shape(first)))

    def same_shape_inputs(
        self, first: int, extra: int, reuse: float
    ) -> list[int]:
        """``first`` and ``extra`` more distinct tensors of its shape, in
        random order; each is an existing one with probability ``reuse``
        (when there is one), else a new graph input."""
        width, height = self.shape(first)
        ins = [first]
        for _ in range(extra):
            same = self.existing(
                lambda t: self.shape(t) == (width, height) and t not in ins
            )
            if same and self.rng.random() < reuse:
                ins.append(self.pick(same))
            else:
                ins.append(self.graph_input(width, height))
        self.rng.shuffle(ins)
        return ins


def _min_working_set(b: _Builder, o: int, side: int) -> int:
    """SPEC §6 working set of op ``o`` alone at tiles of ``side``.

    Pointwise: one h*w slice per input plus the output. MatMul alone is
    standalone; with k = side < K (or k = K when K is smaller) its LHS
    slice is h*k, its RHS slice k*w, plus the h*w output. Sides are
    clipped to the output shape and to K.
    """
    out = b.outputs[o][0]
    w = min(side, b.widths[out])
    h = min(side, b.heights[out])
    if b.op_types[o] == "Pointwise":
        return (len(b.inputs[o]) + 1) * h * w
    k_dim = b.widths[b.inputs[o][0]]
    k = min(side, k_dim)
    if k == k_dim:
        # nk = 1: a standalone MatMul then loads all of K at once.
        return h * k_dim + k_dim * w + h * w
    return h * k + k * w + h * w


def _build(rng: random.Random, n_ops: int) -> _Builder:
    b = _Builder(rng)
    matmul_share = rng.choice((0.2, 0.45, 0.7))
    for _ in range(n_ops):
        if rng.random() < matmul_share:
            b.add_matmul()
        else:
            b.add_pointwise()
    return b


def _to_dict(
    b: _Builder,
    capacity: int,
    bandwidth: int,
    native: tuple[int, int],
) -> dict[str, Any]:
    """The problem dict; op and tensor ids are sometimes shuffled.

    Ops are built in topological order; shuffling their ids (and the
    tensor ids) checks that nothing relies on ids being in that order.
    """
    rng = b.rng
    n_ops, n_tensors = len(b.op_types), len(b.widths)
    op_at = list(range(n_ops))  # op_at[new id] = old id
    t_new = list(range(n_tensors))  # t_new[old id] = new id
    if rng.random() < 0.3:
        rng.shuffle(op_at)
    if rng.random() < 0.3:
        rng.shuffle(t_new)
    t_at = sorted(range(n_tensors), key=t_new.__getitem__)
    return {
        "widths": [b.widths[t] for t in t_at],
        "heights": [b.heights[t] for t in t_at],
        "inputs": [[t_new[t] for t in b.inputs[o]] for o in op_at],
        "outputs": [[t_new[t] for t in b.outputs[o]] for o in op_at],
        "base_costs": [b.base_costs[o] for o in op_at],
        "op_types": [b.op_types[o] for o in op_at],
        "fast_memory_capacity": capacity,
        "slow_memory_bandwidth": bandwidth,
        "native_granularity": list(native),
    }


def random_problem(
    rng: random.Random, n_ops: int | None = None
) -> dict[str, Any]:
    """A random valid problem with a valid schedule in both profiles.

    Parameters
    ----------
    rng
        The source of randomness (the result depends only on its state).
    n_ops
        Number of ops; random in 3..14 by default.

    Returns
    -------
    dict
        A contest-JSON problem dict accepted by ``mlsched.load_problem``.
    """
    if n_ops is None:
        n_ops = rng.randint(3, 14)
    b = _build(rng, n_ops)
    native = rng.choice(NATIVES)
    bandwidth = rng.randint(5, 100)
    regime = rng.random()
    # Sides of 32 or less fit every tensor (all sides >= 64), respect
    # k <= k_native (>= 64) and are powers of two, which the granularity
    # search always tries. So every op alone fits under ``need``.
    side = rng.choice((8, 16, 32))
    need = max(_min_working_set(b, o, side) for o in range(n_ops))
    if regime < 0.4:
        capacity = need + rng.randint(0, side * side)
    elif regime < 0.7:
        capacity = max(need, rng.randint(10_000, 80_000))
    else:
        capacity = max(need, rng.randint(150_000, 1_000_000))
    return _to_dict(b, capacity, bandwidth, native)


def random_infeasible_problem(rng: random.Random) -> dict[str, Any]:
    """A random problem where one op fits at no granularity.

    A Pointwise op with m = 4..8 inputs needs at least m + 1 elements
    even at 1x1 tiles (one per input and one for the output, SPEC §6);
    the capacity is set below that, so no schedule can be valid.
    """
    b = _build(rng, rng.randint(2, 8))
    pool = b.existing()
    first = b.pick(pool)
    ins = b.same_shape_inputs(first, rng.randint(3, 7), 0.5)
    # Insert the wide op anywhere after its inputs' producers: appending
    # keeps the DAG valid; op ids need not be topological anyway.
    b.add_op("Pointwise", ins, b.tensor(*b.shape(first)))
    capacity = rng.randint(1, len(ins))
    native = rng.choice(NATIVES)
    return _to_dict(b, capacity, rng.randint(5, 100), native)


def hand_problem(
    shapes: list[tuple[int, int]],
    ops: list[tuple[str, list[int], int, int]],
    capacity: int = 200_000,
) -> dict[str, Any]:
    """A problem: tensors as (height, width); ops as (type, inputs,
    output, base cost); bandwidth 10, native [128, 128]."""
    return {
        "widths": [w for _, w in shapes],
        "heights": [h for h, _ in shapes],
        "inputs": [ins for _, ins, _, _ in ops],
        "outputs": [[out] for _, _, out, _ in ops],
        "base_costs": [cost for _, _, _, cost in ops],
        "op_types": [typ for typ, _, _, _ in ops],
        "fast_memory_capacity": capacity,
        "slow_memory_bandwidth": 10,
        "native_granularity": [128, 128],
    }
