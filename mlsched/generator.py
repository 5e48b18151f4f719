"""Seeded generators of realistic ML graphs in the contest format.

Every family builds its graph op by op through :class:`GraphBuilder`, so
shapes are consistent by construction: a tensor is a matrix of
``rows x cols`` (``heights x widths``), a MatMul of an ``H x K`` LHS and a
``K x W`` RHS writes ``H x W``. Weights, caches and the first activations
are graph inputs. A transpose that a real framework does for free (the
``K^T`` of attention) is a Pointwise op, since the format has no layout.

Base costs are proportional to each op's work per native output tile: a
MatMul does ``w_native * h_native * K`` multiply-adds, so its cost is
``MATMUL_COST_PER_K * K``; a Pointwise op costs its elementwise operations
per element (:data:`POINTWISE_COST`). The scale matches the contest
instances (a 512-deep MatMul costs 2,048 there 2,000 to 5,000; Pointwise
ops 100 to 500).

The seed decides what is random in a real model: the tokens routed to each
expert of a mixture of experts, and an optional multiplicative jitter of
the base costs (measured kernels never cost exactly their flop count).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlsched.model.io import load_problem
from mlsched.model.problem import Problem

#: MatMul base cost per unit of reduction depth K (per native tile).
MATMUL_COST_PER_K = 4
#: Pointwise base cost per native tile, by operation.
POINTWISE_COST = {
    "add": 100,
    "mul": 100,
    "scale": 100,
    "transpose": 100,
    "silu": 200,
    "gelu": 200,
    "norm": 300,
    "softmax": 300,
}


@dataclass(frozen=True)
class Preset:
    """Fast-memory capacity (elements) and bandwidth (elements/time)."""

    capacity: int
    bandwidth: float


#: Named machine presets, spanning the contest instances' range.
PRESETS = {
    "small": Preset(60_000, 20.0),
    "medium": Preset(300_000, 40.0),
    "large": Preset(800_000, 100.0),
}
DEFAULT_PRESET = "medium"


@dataclass
class GraphBuilder:
    """Accumulates tensors and ops of one problem.

    Parameters
    ----------
    rng
        The seeded random source (cost jitter, routing).
    jitter
        Relative spread of the multiplicative base-cost noise (0: none).
    """

    rng: random.Random
    jitter: float = 0.0
    widths: list[int] = field(default_factory=list)
    heights: list[int] = field(default_factory=list)
    inputs: list[list[int]] = field(default_factory=list)
    outputs: list[list[int]] = field(default_factory=list)
    base_costs: list[int] = field(default_factory=list)
    op_types: list[str] = field(default_factory=list)

    def tensor(self, rows: int, cols: int) -> int:
        """A new tensor of ``rows x cols``; returns its id."""
        if rows <= 0 or cols <= 0:
            raise ValueError(f"tensor shape {rows}x{cols} is not positive")
        self.heights.append(rows)
        self.widths.append(cols)
        return len(self.widths) - 1

    def shape(self, t: int) -> tuple[int, int]:
        """``(rows, cols)`` of tensor ``t``."""
        return self.heights[t], self.widths[t]

    def _op(self, kind: str, ins: list[int], out: int, cost: float) -> int:
        if self.jitter:
            cost *= 1.0 + self.rng.uniform(-self.jitter, self.jitter)
        self.op_types.append(kind)
        self.inputs.append(ins)
        self.outputs.append([out])
        self.base_costs.append(max(1, round(cost)))
        return out

    def matmul(self, lhs: int, rhs: int) -> int:
        """``lhs @ rhs``; returns the output tensor."""
        rows, k = self.shape(lhs)
        k_rhs, cols = self.shape(rhs)
        if k != k_rhs:
            raise ValueError(f"matmul of {rows}x{k} and {k_rhs}x{cols}")
        out = self.tensor(rows, cols)
        return self._op("MatMul", [lhs, rhs], out, MATMUL_COST_PER_K * k)

    def linear(self, x: int, cols: int) -> int:
        """``x @ W`` with a new weight graph input of ``cols`` columns."""
        weight = self.tensor(self.shape(x)[1], cols)
        return self.matmul(x, weight)

    def pointwise(
        self, op: str, ins: list[int], shape: tuple[int, int] | None = None
    ) -> int:
        """An elementwise ``op`` over ``ins`` (output shaped like the
        first input unless ``shape`` is given)."""
        rows, cols = shape or self.shape(ins[0])
        out = self.tensor(rows, cols)
        return self._op("Pointwise", ins, out, POINTWISE_COST[op])

    def problem(self, preset: Preset, native: tuple[int, int]) -> Problem:
        """The validated problem built so far."""
        return load_problem(
            {
                "widths": self.widths,
                "heights": self.heights,
                "inputs": self.inputs,
                "outputs": self.outputs,
                "base_costs": self.base_costs,
                "op_types": self.op_types,
                "fast_memory_capacity": preset.capacity,
                "slow_memory_bandwidth": preset.bandwidth,
                "native_granularity": list(native),
            }
        )


@dataclass(frozen=True)
class Dims:
    """Model dimensions shared by the families."""

    hidden: int = 1024
    seq: int = 512
    heads: int = 8
    kv_heads: int | None = None
    ffn: int | None = None
    experts: int = 4
    top_k: int = 2
    cache: int = 4096
    batch: int = 1

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")

    @property
    def head_dim(self) -> int:
        """Columns per attention head."""
        return max(1, self.hidden // self.heads)

    @property
    def groups(self) -> int:
        """KV heads (MHA: one per head; MQA: one)."""
        kv = self.heads if self.kv_heads is None else self.kv_heads
        if not 1 <= kv <= self.heads or self.heads % kv:
            raise ValueError(f"kv_heads {kv} must divide heads {self.heads}")
        return kv

    @property
    def ffn_dim(self) -> int:
        """Inner width of the feed-forward layers (default 4x hidden)."""
        return 4 * self.hidden if self.ffn is None else self.ffn


def _accumulate(g: GraphBuilder, parts: list[int]) -> int:
    """Sum ``parts`` by a chain of adds (as a kernel accumulates)."""
    acc = parts[0]
    for part in parts[1:]:
        acc = g.pointwise("add", [acc, part])
    return acc


def _mlp(g: GraphBuilder, x: int, d: Dims, act: str = "gelu") -> int:
    """One dense layer: ``act(x @ W + b)`` (bias as an add)."""
    y = g.linear(x, d.hidden)
    bias = g.tensor(*g.shape(y))
    return g.pointwise(act, [g.pointwise("add", [y, bias])])


def _ffn(g: GraphBuilder, x: int, d: Dims) -> int:
    """``gelu(x @ W1) @ W2``."""
    return g.linear(g.pointwise("gelu", [g.linear(x, d.ffn_dim)]), d.hidden)


def _swiglu(g: GraphBuilder, x: int, d: Dims) -> int:
    """``(silu(x @ Wg) * (x @ Wu)) @ Wd`` (the llama MLP)."""
    gate = g.pointwise("silu", [g.linear(x, d.ffn_dim)])
    up = g.linear(x, d.ffn_dim)
    return g.linear(g.pointwise("mul", [gate, up]), d.hidden)


def _heads(
    g: GraphBuilder, x: int, keys_t: list[int], values: list[int], d: Dims
) -> int:
    """Per query head: softmax(q k^T) v, projected and accumulated.

    ``keys_t[j]`` (``head_dim x L``) and ``values[j]`` (``L x head_dim``)
    serve the query heads of KV group ``j``.
    """
    per_group = d.heads // len(keys_t)
    projected = []
    for h in range(d.heads):
        q = g.linear(x, d.head_dim)
        scores = g.matmul(q, keys_t[h // per_group])
        probs = g.pointwise("softmax", [scores])
        context = g.matmul(probs, values[h // per_group])
        projected.append(g.linear(context, d.hidden))
    return _accumulate(g, projected)


def _attention(g: GraphBuilder, x: int, d: Dims) -> int:
    """Self-attention with ``kv_heads`` groups (MHA, GQA or MQA)."""
    x_t = g.pointwise("transpose", [x], shape=g.shape(x)[::-1])
    keys_t, values = [], []
    for _ in range(d.groups):
        w_k_t = g.tensor(d.head_dim, d.hidden)
        keys_t.append(g.matmul(w_k_t, x_t))
        values.append(g.linear(x, d.head_dim))
    return _heads(g, x, keys_t, values, d)


def _kvcache(g: GraphBuilder, x: int, d: Dims) -> int:
    """Decode attention over a long cache: the new token's K and V are
    graph outputs (written to the cache), the cache is a graph input."""
    keys_t, values = [], []
    for _ in range(d.groups):
        g.linear(x, d.head_dim)  # new K, appended to the cache
        g.linear(x, d.head_dim)  # new V
        keys_t.append(g.tensor(d.head_dim, d.cache))
        values.append(g.tensor(d.cache, d.head_dim))
    return _heads(g, x, keys_t, values, d)


def _moe(g: GraphBuilder, x: int, d: Dims) -> int:
    """Router, softmax, and experts on the tokens routed to them.

    Each expert gets a seeded share of ``seq * top_k`` tokens (its own
    gathered activations, a graph input), runs a SwiGLU and is scaled by
    its router weight back into all ``seq`` rows; the scaled outputs are
    accumulated.
    """
    rows = g.shape(x)[0]
    probs = g.pointwise("softmax", [g.linear(x, d.experts)])
    loads = _routing(g.rng, rows * min(d.top_k, d.experts), d.experts)
    outs = []
    for tokens in loads:
        gathered = g.tensor(max(1, tokens), d.hidden)
        y = _swiglu(g, gathered, d)
        # Scaling by the router weight scatters back to every token.
        outs.append(g.pointwise("scale", [y, probs], shape=g.shape(x)))
    return _accumulate(g, outs)


def _routing(rng: random.Random, tokens: int, experts: int) -> list[int]:
    """Tokens per expert: a seeded, uneven split of ``tokens``."""
    weights = [rng.uniform(0.5, 1.5) for _ in range(experts)]
    total = sum(weights)
    return [max(1, round(tokens * w / total)) for w in weights]


def _transformer(g: GraphBuilder, x: int, d: Dims) -> int:
    """Post-norm encoder block: norm(x + attn(x)), norm(h + ffn(h))."""
    h = g.pointwise("norm", [g.pointwise("add", [x, _attention(g, x, d)])])
    return g.pointwise("norm", [g.pointwise("add", [h, _ffn(g, h, d)])])


def _decoder(g: GraphBuilder, x: int, d: Dims) -> int:
    """Pre-norm llama block: x + attn(norm x), then + swiglu(norm h)."""
    h = g.pointwise("add", [x, _attention(g, g.pointwise("norm", [x]), d)])
    return g.pointwise("add", [h, _swiglu(g, g.pointwise("norm", [h]), d)])


Layer = Callable[[GraphBuilder, int, Dims], int]

#: Family name -> (layer builder, rows of the input activations).
_LAYERS: dict[str, tuple[Layer, str]] = {
    "mlp": (_mlp, "seq"),
    "ffn": (_ffn, "seq"),
    "swiglu": (_swiglu, "seq"),
    "attention": (_attention, "seq"),
    "kvcache": (_kvcache, "decode"),
    "moe": (_moe, "seq"),
    "transformer": (_transformer, "seq"),
    "decoder": (_decoder, "seq"),
    "llama": (_decoder, "seq"),
}
FAMILIES = tuple(_LAYERS)


def generate(
    family: str,
    layers: int = 1,
    seed: int = 0,
    preset: str = DEFAULT_PRESET,
    capacity: int | None = None,
    bandwidth: float | None = None,
    native: tuple[int, int] = (128, 128),
    jitter: float = 0.0,
    ops: int | None = None,
    **dims: Any,
) -> Problem:
    """A seeded, realistic graph of ``family``.

    Parameters
    ----------
    family
        One of :data:`FAMILIES`. ``llama`` is a stack of ``decoder``
        blocks with grouped KV heads (default ``kv_heads = heads // 4``),
        closed by a final norm and the LM head.
    layers
        Blocks stacked one after the other.
    seed
        Seeds the expert routing and the cost jitter.
    preset, capacity, bandwidth
        A named machine of :data:`PRESETS`; ``capacity`` (elements) and
        ``bandwidth`` (elements per time unit) override it.
    native
        Native ``[w, h]`` tile.
    jitter
        Relative spread of a multiplicative noise on the base costs.
    ops
        Instead of ``layers``: the smallest stack with at least this many
        ops (whole layers, so it may exceed it by up to one layer).
    **dims
        :class:`Dims` fields: ``hidden``, ``seq``, ``heads``, ``kv_heads``,
        ``ffn``, ``experts``, ``top_k``, ``cache`` (decode cache length),
        ``batch`` (decode rows).

    Returns
    -------
    Problem
        The validated problem.

    Raises
    ------
    ValueError
        For an unknown family or preset, or inconsistent dimensions
        (an :class:`~mlsched.model.io.InputError` for an invalid machine).
    """
    if family not in _LAYERS:
        raise ValueError(f"family must be one of {FAMILIES}, not {family!r}")
    if preset not in PRESETS:
        raise ValueError(
            f"preset must be one of {tuple(PRESETS)}, not {preset!r}"
        )
    if family == "llama" and "kv_heads" not in dims:
        heads = dims.get("heads", Dims.heads)
        dims["kv_heads"] = max(
            (kv for kv in range(1, heads // 4 + 1) if heads % kv == 0),
            default=1,
        )
    d = Dims(**dims)
    base = PRESETS[preset]
    machine = Preset(
        base.capacity if capacity is None else capacity,
        base.bandwidth if bandwidth is None else bandwidth,
    )
    if ops is not None and ops < 1:
        raise ValueError(f"ops must be at least 1, not {ops}")
    if ops is not None:
        one = _layer_ops(family, seed, d, jitter)
        layers = max(1, -(-max(ops - _closing_ops(family), 1) // one))
    if layers < 1:
        raise ValueError(f"layers must be at least 1, not {layers}")
    g = _build_graph(family, layers, seed, d, jitter)
    return g.problem(machine, native)


def _closing_ops(family: str) -> int:
    """Ops after the last layer (the llama head)."""
    return 2 if family == "llama" else 0


def _layer_ops(family: str, seed: int, d: Dims, jitter: float) -> int:
    """Ops per layer of ``family`` (one layer built to count them)."""
    g = _build_graph(family, 1, seed, d, jitter)
    return len(g.op_types) - _closing_ops(family)


def _build_graph(
    family: str, layers: int, seed: int, d: Dims, jitter: float
) -> GraphBuilder:
    g = GraphBuilder(random.Random(seed), jitter)
    layer, rows = _LAYERS[family]
    x = g.tensor(d.batch if rows == "decode" else d.seq, d.hidden)
    for _ in range(layers):
        x = layer(g, x, d)
    if family == "llama":
        g.linear(g.pointwise("norm", [x]), d.hidden)
    return g
