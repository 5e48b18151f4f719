"""Lowering an ONNX graph to contest ops, tensors and costs.

Each computed value is cut into *cells* (rectangles of its 2-D matrix)
and every cell is one contest op. The cuts come from the consumers: a
batched MatMul needs one slice per batch index (attention heads), and a
head's slice of ``Q`` after ``Reshape`` + ``Transpose`` is a column block
of the projection, so that projection is split into one MatMul per head.
Two passes do it: demands flow backwards from the graph outputs (each
consumer cell names the rectangles of its inputs it reads), then ops are
emitted forwards in ONNX node order. A rectangle that is not a union of
cells of its base, or not a rectangle of it at all (a transposed
activation), is gathered by a Pointwise copy op.
"""

from __future__ import annotations

import enum
import itertools
import logging
import math
from collections import Counter, defaultdict
from typing import Any, NamedTuple

import numpy as np

from mlsched.importer.devices import Device
from mlsched.importer.graph import Graph, Node
from mlsched.importer.views import Rect, View, cuts, folded, whole
from mlsched.model.io import InputError

log = logging.getLogger(__name__)

#: Work per output element of the element-wise ops (operations).
ELEMENTWISE: dict[str, float] = {
    **dict.fromkeys(
        [
            "Add",
            "Sub",
            "Mul",
            "Div",
            "Neg",
            "Abs",
            "Relu",
            "LeakyRelu",
            "PRelu",
            "Max",
            "Min",
            "Sum",
            "Mean",
            "Where",
            "Clip",
            "Reciprocal",
            "Sqrt",
            "Pow",
            "Sign",
            "Floor",
            "Ceil",
            "Round",
            "ThresholdedRelu",
            "HardSigmoid",
            "HardSwish",
            "Not",
            "And",
            "Or",
            "Xor",
            "Equal",
            "Less",
            "Greater",
            "LessOrEqual",
            "GreaterOrEqual",
        ],
        1.0,
    ),
    **dict.fromkeys(
        [
            "Exp",
            "Log",
            "Sigmoid",
            "Tanh",
            "Erf",
            "Gelu",
            "Elu",
            "Selu",
            "Celu",
            "Softplus",
            "Softsign",
            "Mish",
            "Sin",
            "Cos",
            "Tan",
        ],
        4.0,
    ),
}
#: Work per input element of the row-wise ops (over the last axis).
ROWWISE: dict[str, float] = {
    "Softmax": 5.0,
    "LogSoftmax": 5.0,
    "LayerNormalization": 8.0,
    "RMSNormalization": 5.0,
    "ReduceMean": 1.0,
    "ReduceSum": 1.0,
    "ReduceMax": 1.0,
    "ReduceMin": 1.0,
    "ReduceL2": 2.0,
    "ReduceSumSquare": 2.0,
}
#: Ops that only relabel data; folded into views.
LAYOUT = frozenset(
    [
        "Identity",
        "Cast",
        "CastLike",
        "Reshape",
        "Transpose",
        "Squeeze",
        "Unsqueeze",
        "Flatten",
        "Dropout",
    ]
)
MATMUL = frozenset({"MatMul", "Gemm"})
#: Ops that read only the shape of their input: their outputs are
#: constants once the dimensions are bound (exporters build reshape
#: targets and causal masks from them).
METADATA = frozenset({"Shape", "Size"})
#: Work per element of a copy op that gathers or transposes data.
COPY_WORK = 1.0
#: What an unsupported op would need, for the error message.
HINTS = {
    "Conv": "lower convolutions to MatMul (im2col) before importing",
    "Concat": "concatenation has no contest op; split the consumers",
    "Split": "splitting has no contest op; split the producer",
    "Slice": "slicing has no contest op; split the producer",
    "Gather": "an embedding lookup is data-dependent; start the graph "
    "after it",
}


class Kind(enum.Enum):
    """How a node becomes contest ops."""

    MATMUL = "MatMul"
    ELEMENTWISE = "element-wise"
    ROWWISE = "row-wise"
    OPAQUE = "unsupported"


class Use(NamedTuple):
    """A rectangle of a value, seen through its view, read by an op."""

    name: str
    view: View
    rect: Rect


class OpRecord(NamedTuple):
    """One emitted contest op."""

    op_type: str
    inputs: tuple[int, ...]
    output: int
    cost: float
    label: str
    node: str
    onnx_type: str


class TensorRecord(NamedTuple):
    """One emitted contest tensor: a rectangle of an ONNX value."""

    rect: Rect
    value: str
    label: str
    source: bool


def unsupported(node: Node, why: str) -> InputError:
    """The one-line error for a node mlsched cannot map."""
    hint = HINTS.get(node.op_type, "it needs a mapping to MatMul or Pointwise")
    return InputError(
        f"node {node.name!r} ({node.op_type}): {why}; {hint} (or pass "
        "--skip-unsupported to import it as a Pointwise op)"
    )


class Lowering:
    """The state of one import: views, demands, cells, emitted records.

    Parameters
    ----------
    graph
        The shape-inferred graph.
    device
        Throughputs and the native tile, for the costs.
    skip_unsupported
        Import unsupported nodes as Pointwise ops (with a warning)
        instead of failing.
    """

    def __init__(
        self, graph: Graph, device: Device, skip_unsupported: bool
    ) -> None:
        self.graph = graph
        self.device = device
        self.skip = skip_unsupported
        self.warnings: list[str] = []
        self.sources = set(graph.sources)
        self.constants = set(graph.sources - graph.inputs)
        self.views: dict[str, View] = {}
        self.kinds: dict[int, Kind] = {}
        self.demands: dict[str, list[Rect]] = defaultdict(list)
        self.cells: dict[str, list[Rect]] = {}
        self.ops: list[OpRecord] = []
        self.tensors: list[TensorRecord] = []
        self.cell_tensor: dict[tuple[str, Rect], int] = {}
        self.memo: dict[Any, int] = {}
        self.copies: Counter[str] = Counter()

    def run(self) -> None:
        """Classify, plan the cells and emit every op."""
        live = self._live()
        for node in self.graph.nodes:
            if node.index in live:
                self._plan_node(node)
        compute = [n for n in self.graph.nodes if n.index in self.kinds]
        if not any(self.kinds[n.index] is Kind.MATMUL for n in compute):
            raise InputError(
                f"model {self.graph.label}: no MatMul or Gemm node reaches "
                "a graph output; mlsched schedules graphs of MatMuls"
            )
        for out in self.graph.outputs:
            if out in self.views:  # else a graph input passed through
                self._demand(self.views[out], whole(self.views[out].shape))
        for node in reversed(compute):
            self._plan_cells(node)
        for node in compute:
            self._emit(node)

    # Planning.

    def _live(self) -> set[int]:
        """Nodes whose data reaches a graph output (not shape arithmetic)."""
        live: set[int] = set()
        stack = [v for v in self.graph.outputs]
        seen: set[str] = set()
        while stack:
            name = stack.pop()
            node = self.graph.producer.get(name)
            if name in seen or node is None:
                continue
            seen.add(name)
            live.add(node.index)
            data = node.inputs[:1] if node.op_type in LAYOUT else node.inputs
            if node.op_type in METADATA:
                data = ()
            stack.extend(v for v in data if v)
        return live

    def shape(self, name: str, node: Node) -> tuple[int, ...]:
        """The static shape of a value, or an error naming it."""
        if name not in self.graph.shapes:
            raise InputError(
                f"node {node.name!r} ({node.op_type}): value {name!r} has "
                "no static shape after shape inference"
            )
        return self.graph.shapes[name]

    def _plan_node(self, node: Node) -> None:
        """Define the views of a node's outputs and classify it."""
        standard = node.domain in ("", "ai.onnx")
        layout = node.op_type in LAYOUT and standard
        metadata = node.op_type in METADATA and standard
        data = [v for v in node.inputs[: 1 if layout else None] if v]
        for name in data if not metadata else ():
            if name not in self.views:
                self.views[name] = View.of(name, self.shape(name, node))
        if layout:
            self._plan_layout(node)
        elif metadata or (data and all(v in self.constants for v in data)):
            # Computed from constants only: a constant itself.
            for out in node.outputs:
                if out:
                    self.sources.add(out)
                    self.constants.add(out)
                    self.views[out] = View.of(out, self.shape(out, node))
        else:
            self.kinds[node.index] = self._classify(node)
            for out in node.outputs:
                if out:
                    self.views[out] = View.of(out, self.shape(out, node))

    def _plan_layout(self, node: Node) -> None:
        src = self.views[node.inputs[0]]
        out = node.outputs[0]
        out_shape = self.shape(out, node)
        if src.base in self.sources:
            # Graph inputs and constants can be stored in any layout.
            self.sources.add(out)
            if src.base in self.constants:
                self.constants.add(out)
            self.views[out] = View.of(out, out_shape)
            return
        view: View | None = src
        if node.op_type == "Transpose":
            rank = len(src.shape)
            perm = tuple(node.attrs.get("perm", range(rank - 1, -1, -1)))
            view = src.transpose(perm)
            if view is None:
                raise unsupported(
                    node, "transposes a reshape that needs a copy"
                )
        elif node.op_type not in ("Identity", "Cast", "CastLike", "Dropout"):
            view = src.reshape(out_shape)
        if view is None or view.shape != out_shape:
            raise unsupported(node, "its output shape does not match")
        self.views[out] = view

    def _classify(self, node: Node) -> Kind:
        op = node.op_type
        standard = node.domain in ("", "ai.onnx")
        if standard and op in MATMUL:
            return self._check_matmul(node)
        if standard and op in ELEMENTWISE:
            return Kind.ELEMENTWISE
        if standard and op in ROWWISE:
            return self._check_rowwise(node)
        why = "is not supported"
        if not standard:
            why = f"is not a standard ONNX op (domain {node.domain!r})"
        return self._opaque(node, why)

    def _opaque(self, node: Node, why: str) -> Kind:
        if not self.skip:
            raise unsupported(node, why)
        text = (
            f"node {node.name!r} ({node.op_type}) {why}: imported as a "
            "Pointwise op reading its whole inputs"
        )
        log.info(text)  # returned in ImportResult.warnings
        self.warnings.append(text)
        return Kind.OPAQUE

    def _check_matmul(self, node: Node) -> Kind:
        shapes = [self.views[v].shape for v in node.inputs[:2]]
        if any(len(s) < 2 for s in shapes):
            return self._opaque(node, "has an operand of rank below 2")
        if node.op_type == "Gemm" and len(node.inputs) > 2 and node.inputs[2]:
            bias = self.views[node.inputs[2]]
            if bias.base not in self.constants:
                return self._opaque(
                    node, "adds a computed C (use a separate Add node)"
                )
        return Kind.MATMUL

    def _check_rowwise(self, node: Node) -> Kind:
        rank = len(self.views[node.inputs[0]].shape)
        attrs = node.attrs
        if node.op_type.startswith("Reduce"):
            axes = list(attrs.get("axes", []))
            if len(node.inputs) > 1 and node.inputs[1]:
                axes = self._constant_ints(node, node.inputs[1])
            if attrs.get("keepdims", 1) != 1:
                return self._opaque(node, "drops the reduced axis")
        else:
            # Before opset 13, Softmax flattened from axis 1 by default.
            old = node.op_type.endswith("Softmax") and self.graph.opset < 13
            axes = [int(attrs.get("axis", 1 if old else -1))]
        if [a % rank for a in axes] != [rank - 1]:
            return self._opaque(
                node, f"works over axes {axes}, not the last axis only"
            )
        for extra in node.inputs[1:]:
            computed = extra and self.views[extra].base not in self.constants
            if computed and not node.op_type.startswith("Reduce"):
                return self._opaque(
                    node, f"reads a computed parameter {extra!r}"
                )
        return Kind.ROWWISE

    def _constant_ints(self, node: Node, name: str) -> list[int]:
        value = self.graph.constants.get(name)
        if value is None:
            raise unsupported(node, f"its axes {name!r} are not constant")
        return [int(v) for v in np.asarray(value).ravel()]

    # Demands and cells.

    def _demand(self, view: View, rect: Rect) -> None:
        """Record that ``rect`` of ``view`` is read."""
        if view.base in self.sources:
            return
        exact = view.base_rect(rect)
        self.demands[view.base].append(
            exact if exact is not None else view.footprint(rect)
        )

    def _plan_cells(self, node: Node) -> None:
        """Cut a node's outputs by their demands; demand its inputs."""
        kind = self.kinds[node.index]
        for position, out in enumerate(node.outputs):
            wanted = self.demands.get(out, []) if out else []
            if not wanted:
                continue
            if position > 0 and kind is not Kind.OPAQUE:
                raise unsupported(node, f"output {out!r} is used")
            rows, cols = folded(self.views[out].shape)
            row_cuts = set(cuts(rows, wanted, 0))
            row_cuts.update(self._slice_cuts(node, kind, rows))
            grid = [
                Rect(r0, r1, c0, c1)
                for r0, r1 in itertools.pairwise(sorted(row_cuts))
                for c0, c1 in itertools.pairwise(cuts(cols, wanted, 1))
            ]
            cells = [c for c in grid if any(c.overlaps(w) for w in wanted)]
            self.cells[out] = cells
            for cell in cells:
                for use in self._uses(node, kind, out, cell):
                    self._demand(use.view, use.rect)

    def _slice_cuts(self, node: Node, kind: Kind, rows: int) -> range:
        """Row cuts a batched MatMul needs: one cell per batch slice."""
        if kind is not Kind.MATMUL or not self._batched(node):
            return range(0)
        m = self.views[node.inputs[0]].shape[-2]
        return range(0, rows + 1, m)

    def _batched(self, node: Node) -> bool:
        rhs = self.views[node.inputs[1]].shape
        return node.op_type == "MatMul" and math.prod(rhs[:-2]) > 1

    def _uses(self, node: Node, kind: Kind, out: str, cell: Rect) -> list[Use]:
        """The input rectangles one output cell reads."""
        if kind is Kind.MATMUL:
            return self._matmul_uses(node, cell)
        out_shape = self.views[out].shape
        uses = []
        for i, name in enumerate(node.inputs):
            if not name or (kind is Kind.ROWWISE and i > 0):
                continue  # row-wise parameters are constants (checked)
            view = self.views[name]
            if view.base in self.constants and math.prod(
                view.shape
            ) < math.prod(out_shape):
                continue  # a broadcast constant: part of the op
            if kind is Kind.ELEMENTWISE and view.shape != out_shape:
                rect = self._broadcast_rect(node, view.shape, out_shape, cell)
            elif kind is Kind.ROWWISE:
                rect = Rect(cell.r0, cell.r1, 0, folded(view.shape)[1])
            elif kind is Kind.ELEMENTWISE:
                rect = cell
            else:
                rect = whole(view.shape)
            uses.append(Use(name, view, rect))
        return uses

    def _operands(self, node: Node) -> tuple[Use, Use]:
        """The (LHS, RHS) views of a MatMul or Gemm, transposes applied."""
        (a, b), views = node.inputs[:2], []
        for name, flag in ((a, "transA"), (b, "transB")):
            view = self.views[name]
            if node.attrs.get(flag, 0):
                swapped = view.transpose((1, 0))
                if swapped is None:
                    raise unsupported(node, f"transposes a copied {name!r}")
                view = swapped
            views.append(Use(name, view, whole(view.shape)))
        return views[0], views[1]

    def _matmul_uses(self, node: Node, cell: Rect) -> list[Use]:
        lhs, rhs = self._operands(node)
        m, k = lhs.view.shape[-2:]
        if not self._batched(node):
            return [
                lhs._replace(rect=Rect(cell.r0, cell.r1, 0, k)),
                rhs._replace(rect=Rect(0, k, cell.c0, cell.c1)),
            ]
        out_batch = self.views[node.outputs[0]].shape[:-2]
        q, r0 = divmod(cell.r0, m)
        qa = _broadcast_index(q, out_batch, lhs.view.shape[:-2])
        qb = _broadcast_index(q, out_batch, rhs.view.shape[:-2])
        return [
            lhs._replace(
                rect=Rect(qa * m + r0, qa * m + r0 + cell.rows, 0, k)
            ),
            rhs._replace(rect=Rect(qb * k, qb * k + k, cell.c0, cell.c1)),
        ]

    def _broadcast_rect(
        self,
        node: Node,
        shape: tuple[int, ...],
        out_shape: tuple[int, ...],
        cell: Rect,
    ) -> Rect:
        """The rectangle of a broadcast input that a cell reads."""
        padded = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
        index = np.zeros(cell.rows, dtype=np.int64)
        rest = np.arange(cell.r0, cell.r1, dtype=np.int64)
        stride = 1
        for size, in_size in zip(
            reversed(out_shape[:-1]), reversed(padded[:-1])
        ):
            rest, digit = np.divmod(rest, size)
            index += (digit if in_size > 1 else 0) * stride
            stride *= in_size
        cols = (cell.c0, cell.c1) if padded[-1] > 1 else (0, 1)
        first = int(index[0])
        if np.array_equal(index, first + np.arange(cell.rows)):
            return Rect(first, first + cell.rows, *cols)
        if np.all(index == first):
            return Rect(first, first + 1, *cols)
        raise unsupported(
            node,
            f"broadcasts a computed {shape} input over rows of {out_shape}",
        )

    # Emission.

    def _emit(self, node: Node) -> None:
        kind = self.kinds[node.index]
        for out in node.outputs:
            cells = self.cells.get(out, []) if out else []
            for i, cell in enumerate(cells):
                uses = self._uses(node, kind, out, cell)
                inputs = tuple(self._tensor(u) for u in uses)
                suffix = f"[{i}]" if len(cells) > 1 else ""
                tensor = self._new_tensor(cell, out, out + suffix, False)
                self.cell_tensor[(out, cell)] = tensor
                if kind is Kind.MATMUL:
                    k = uses[0].rect.cols
                    op_type, cost = "MatMul", self._matmul_cost(cell, k)
                else:
                    op_type = "Pointwise"
                    cost = self._pointwise_cost(node, kind, cell, uses)
                self.ops.append(
                    OpRecord(
                        op_type,
                        inputs,
                        tensor,
                        cost,
                        node.name + suffix,
                        node.name,
                        node.op_type,
                    )
                )

    def _new_tensor(
        self, rect: Rect, value: str, label: str, source: bool
    ) -> int:
        self.tensors.append(TensorRecord(rect, value, label, source))
        return len(self.tensors) - 1

    def _tensor(self, use: Use) -> int:
        """The contest tensor holding ``use``, copying data if needed."""
        view, rect = use.view, use.rect
        if view.base in self.sources:
            key: Any = ("source", view, rect)
            if key not in self.memo:
                full = rect == whole(view.shape)
                label = use.name if full else f"{use.name}{_span(rect)}"
                self.memo[key] = self._new_tensor(rect, use.name, label, True)
            return self.memo[key]
        exact = view.base_rect(rect)
        area = exact if exact is not None else view.footprint(rect)
        parts = [c for c in self.cells[view.base] if c.overlaps(area)]
        if exact is not None and parts == [exact]:
            return self.cell_tensor[(view.base, exact)]
        key = ("copy", view.base, exact) if exact else ("copy", view, rect)
        if key not in self.memo:
            self.memo[key] = self._copy(use, parts)
        return self.memo[key]

    def _copy(self, use: Use, parts: list[Rect]) -> int:
        """A Pointwise op gathering ``parts`` of the base into ``use``."""
        base = use.view.base
        self.copies[use.name] += 1
        label = f"{use.name}:copy{self.copies[use.name] - 1}"
        tensor = self._new_tensor(use.rect, use.name, label, False)
        cost = self._work_cost(
            use.rect, COPY_WORK, self.device.vector_throughput
        )
        self.ops.append(
            OpRecord(
                "Pointwise",
                tuple(self.cell_tensor[(base, p)] for p in parts),
                tensor,
                cost,
                label,
                label,
                "Copy",
            )
        )
        return tensor

    # Costs: work of one native output tile over the device throughput.

    def _work_cost(self, cell: Rect, per_element: float, rate: float) -> float:
        w_native, h_native = self.device.native_granularity
        tile = min(w_native, cell.cols) * min(h_native, cell.rows)
        return tile * per_element / rate

    def _matmul_cost(self, cell: Rect, k: int) -> float:
        """2·h·w·K flops per native tile."""
        return self._work_cost(cell, 2.0 * k, self.device.throughput)

    def _pointwise_cost(
        self, node: Node, kind: Kind, cell: Rect, uses: list[Use]
    ) -> float:
        if kind is Kind.ELEMENTWISE:
            work = ELEMENTWISE[node.op_type]
        elif kind is Kind.ROWWISE:
            # Per input element; a reduction reads a row per output.
            work = ROWWISE[node.op_type] * uses[0].rect.cols / cell.cols
        else:
            work = 1.0
        return self._work_cost(cell, work, self.device.vector_throughput)


def _span(rect: Rect) -> str:
    return f"[{rect.r0}:{rect.r1},{rect.c0}:{rect.c1}]"


def _broadcast_index(
    q: int, out_batch: tuple[int, ...], in_batch: tuple[int, ...]
) -> int:
    """Flat batch index of an operand for output batch index ``q``."""
    padded = (1,) * (len(out_batch) - len(in_batch)) + tuple(in_batch)
    index, stride = 0, 1
    for size, in_size in zip(reversed(out_batch), reversed(padded)):
        q, digit = divmod(q, size)
        index += (digit if in_size > 1 else 0) * stride
        stride *= in_size
    return index
