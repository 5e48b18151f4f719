"""The problem schema: a DAG of MatMul and Pointwise ops (SPEC §1)."""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

OpType = Literal["MatMul", "Pointwise"]

# Sizes beyond this cannot be real accelerator tensors and would make
# element counts overflow the integer arithmetic of the CP-SAT model.
MAX_DIM = 1 << 24
MAX_IDS = 1 << 20


class Problem(BaseModel):
    """A scheduling problem in the contest JSON format.

    Parameters
    ----------
    widths, heights
        Tensor ``t`` is a matrix of ``heights[t]`` rows and ``widths[t]``
        columns.
    inputs, outputs
        Tensor ids read and written by each op. A MatMul reads exactly two
        tensors, in the order (LHS, RHS).
    base_costs
        Compute cost of each op per output tile of native size.
    op_types
        ``"MatMul"`` or ``"Pointwise"`` per op.
    fast_memory_capacity
        Fast-memory capacity in elements.
    slow_memory_bandwidth
        Elements moved per time unit between slow and fast memory.
    native_granularity
        ``[w_native, h_native]``; the native reduction depth is the smaller
        of the two.

    The model validates itself on construction; the error names the
    offending op or tensor.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True, allow_inf_nan=False
    )

    widths: tuple[int, ...] = Field(min_length=1, max_length=MAX_IDS)
    heights: tuple[int, ...] = Field(min_length=1, max_length=MAX_IDS)
    inputs: tuple[tuple[int, ...], ...] = Field(
        min_length=1, max_length=MAX_IDS
    )
    outputs: tuple[tuple[int, ...], ...] = Field(
        min_length=1, max_length=MAX_IDS
    )
    base_costs: tuple[float, ...] = Field(min_length=1, max_length=MAX_IDS)
    op_types: tuple[OpType, ...] = Field(min_length=1, max_length=MAX_IDS)
    fast_memory_capacity: int
    slow_memory_bandwidth: float
    native_granularity: tuple[int, int]

    @model_validator(mode="before")
    @classmethod
    def _coerce_json_numbers(cls, data: object) -> object:
        # Strict mode rejects lists for tuples and ints for floats; JSON has
        # neither distinction, so convert exactly those two things here and
        # keep strictness for everything else (no "12" -> 12, no 1.5 -> 1).
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for key, value in data.items():
            out[key] = _tuplify(value)
        for key in ("base_costs",):
            if isinstance(out.get(key), tuple):
                out[key] = tuple(_intfloat(v) for v in out[key])
        if "slow_memory_bandwidth" in out:
            out["slow_memory_bandwidth"] = _intfloat(
                out["slow_memory_bandwidth"]
            )
        return out

    @model_validator(mode="after")
    def _check(self) -> Problem:
        n_ops = len(self.op_types)
        n_tensors = len(self.widths)
        if len(self.heights) != n_tensors:
            raise ValueError(
                f"heights has {len(self.heights)} entries but widths has "
                f"{n_tensors}"
            )
        for name in ("inputs", "outputs", "base_costs"):
            if len(getattr(self, name)) != n_ops:
                raise ValueError(
                    f"{name} has {len(getattr(self, name))} entries but "
                    f"op_types has {n_ops}"
                )
        for t in range(n_tensors):
            for name, dim in (
                ("width", self.widths[t]),
                ("height", self.heights[t]),
            ):
                if not 0 < dim <= MAX_DIM:
                    raise ValueError(
                        f"tensor {t}: {name} {dim} is not in 1..{MAX_DIM}"
                    )
        if self.fast_memory_capacity <= 0:
            raise ValueError(
                f"fast_memory_capacity {self.fast_memory_capacity} is not "
                "positive"
            )
        if self.fast_memory_capacity > MAX_DIM * MAX_DIM:
            raise ValueError(
                f"fast_memory_capacity {self.fast_memory_capacity} is "
                "implausibly large"
            )
        if not self.slow_memory_bandwidth > 0:
            raise ValueError(
                f"slow_memory_bandwidth {self.slow_memory_bandwidth} is not "
                "positive"
            )
        for axis, value in zip(("w", "h"), self.native_granularity):
            if not 0 < value <= MAX_DIM:
                raise ValueError(
                    f"native_granularity {axis} = {value} is not in "
                    f"1..{MAX_DIM}"
                )
        producer: dict[int, int] = {}
        for o in range(n_ops):
            if not (
                self.base_costs[o] > 0 and math.isfinite(self.base_costs[o])
            ):
                raise ValueError(
                    f"op {o}: base cost {self.base_costs[o]} is not positive"
                )
            if not self.inputs[o]:
                raise ValueError(f"op {o}: has no inputs")
            if not self.outputs[o]:
                raise ValueError(f"op {o}: has no outputs")
            for t in (*self.inputs[o], *self.outputs[o]):
                if not 0 <= t < n_tensors:
                    raise ValueError(
                        f"op {o}: tensor id {t} is out of range "
                        f"0..{n_tensors - 1}"
                    )
            if len(set(self.outputs[o])) != len(self.outputs[o]):
                raise ValueError(f"op {o}: lists an output twice")
            for t in self.outputs[o]:
                if t in producer:
                    raise ValueError(
                        f"tensor {t}: produced by both op {producer[t]} and "
                        f"op {o}"
                    )
                producer[t] = o
                if t in self.inputs[o]:
                    raise ValueError(f"op {o}: reads its own output {t}")
            if self.op_types[o] == "MatMul":
                self._check_matmul(o)
        self._check_acyclic(producer)
        return self

    def _check_matmul(self, o: int) -> None:
        if len(self.inputs[o]) != 2:
            raise ValueError(
                f"op {o}: MatMul needs exactly 2 inputs, has "
                f"{len(self.inputs[o])}"
            )
        lhs, rhs = self.inputs[o]
        w, h = self.widths, self.heights
        if w[lhs] != h[rhs]:
            raise ValueError(
                f"op {o}: MatMul LHS tensor {lhs} width {w[lhs]} != RHS "
                f"tensor {rhs} height {h[rhs]}"
            )
        for out in self.outputs[o]:
            if h[out] != h[lhs] or w[out] != w[rhs]:
                raise ValueError(
                    f"op {o}: MatMul output tensor {out} is "
                    f"{h[out]}x{w[out]} (HxW), expected {h[lhs]}x{w[rhs]}"
                )

    def _check_acyclic(self, producer: dict[int, int]) -> None:
        # Kahn's algorithm; the ops left over lie on or behind a cycle.
        n_ops = len(self.op_types)
        indeg = [0] * n_ops
        succ: list[list[int]] = [[] for _ in range(n_ops)]
        for o in range(n_ops):
            for t in set(self.inputs[o]):
                if t in producer:
                    succ[producer[t]].append(o)
                    indeg[o] += 1
        stack = [o for o in range(n_ops) if indeg[o] == 0]
        seen = 0
        while stack:
            o = stack.pop()
            seen += 1
            for c in succ[o]:
                indeg[c] -= 1
                if indeg[c] == 0:
                    stack.append(c)
        if seen != n_ops:
            stuck = min(o for o in range(n_ops) if indeg[o] > 0)
            raise ValueError(f"op {stuck}: lies on a dependency cycle")

    # Derived maps, built once.

    @property
    def num_ops(self) -> int:
        """Number of ops."""
        return len(self.op_types)

    def scope(self, ops: Iterable[int] | None = None) -> frozenset[int]:
        """``ops`` as a set, or every op when None: what a model or a
        search over part of the graph covers."""
        return frozenset(range(self.num_ops) if ops is None else ops)

    @property
    def num_tensors(self) -> int:
        """Number of tensors."""
        return len(self.widths)

    @cached_property
    def producer(self) -> dict[int, int]:
        """Map from tensor id to the op that produces it."""
        return {t: o for o, outs in enumerate(self.outputs) for t in outs}

    @cached_property
    def consumers(self) -> tuple[tuple[int, ...], ...]:
        """Per tensor, the ops that read it (each op once, ascending)."""
        cons: list[list[int]] = [[] for _ in range(self.num_tensors)]
        for o, ins in enumerate(self.inputs):
            for t in dict.fromkeys(ins):
                cons[t].append(o)
        return tuple(tuple(c) for c in cons)

    @cached_property
    def graph_inputs(self) -> frozenset[int]:
        """Tensors no op produces and some op reads."""
        return frozenset(
            t
            for t in range(self.num_tensors)
            if t not in self.producer and self.consumers[t]
        )

    @cached_property
    def graph_outputs(self) -> frozenset[int]:
        """Tensors some op produces and no op reads."""
        return frozenset(
            t
            for t in range(self.num_tensors)
            if t in self.producer and not self.consumers[t]
        )

    @cached_property
    def k_op(self) -> tuple[int, ...]:
        """Reduction depth K of each MatMul (width of its LHS); 0 else."""
        return tuple(
            self.widths[ins[0]] if typ == "MatMul" else 0
            for typ, ins in zip(self.op_types, self.inputs)
        )

    @cached_property
    def is_matmul(self) -> tuple[bool, ...]:
        """Whether each op is a MatMul."""
        return tuple(t == "MatMul" for t in self.op_types)

    @cached_property
    def sizes(self) -> tuple[int, ...]:
        """Element count W·H of each tensor."""
        return tuple(w * h for w, h in zip(self.widths, self.heights))

    @property
    def k_native(self) -> int:
        """Native reduction depth: the smaller native tile side."""
        return min(self.native_granularity)

    @cached_property
    def topological_order(self) -> tuple[int, ...]:
        """Ops in a topological order (smallest ready id first)."""
        import heapq

        indeg = [0] * self.num_ops
        for o, ins in enumerate(self.inputs):
            indeg[o] = sum(1 for t in set(ins) if t in self.producer)
        heap = [o for o in range(self.num_ops) if indeg[o] == 0]
        heapq.heapify(heap)
        order: list[int] = []
        while heap:
            o = heapq.heappop(heap)
            order.append(o)
            for t in self.outputs[o]:
                for c in self.consumers[t]:
                    indeg[c] -= 1
                    if indeg[c] == 0:
                        heapq.heappush(heap, c)
        return tuple(order)


V = TypeVar("V")


class PerProblem(Generic[V]):
    """A value per problem object, made on first use and dropped with
    the object (``memo[problem]``).

    Keyed by identity, not by equality: a problem loaded twice gets two
    values, so what an object's solves remember stays theirs. (A cached
    property of the problem would be pickled with it, memo and all.)

    Parameters
    ----------
    make
        Makes the value for a problem not seen before.
    """

    def __init__(self, make: Callable[[], V]) -> None:
        self._make = make
        self._values: dict[int, tuple[weakref.ref[Problem], V]] = {}

    def __getitem__(self, problem: Problem) -> V:
        key = id(problem)
        entry = self._values.get(key)
        if entry is not None and entry[0]() is problem:
            return entry[1]

        def forget(ref: weakref.ref[Problem]) -> None:
            if self._values.get(key, (None,))[0] is ref:
                del self._values[key]

        value = self._make()
        self._values[key] = (weakref.ref(problem, forget), value)
        return value


def _tuplify(value: object) -> object:
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    return value


def _intfloat(value: object) -> object:
    # JSON integers are valid floats; bools are not numbers here.
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # reported as "not a finite number"
            return math.inf
    return value
