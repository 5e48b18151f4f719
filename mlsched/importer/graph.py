"""Reading an ONNX model into a plain graph with static shapes.

This is the only module that touches the ``onnx`` package (an optional
extra); everything downstream sees :class:`Graph`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsched.model.io import InputError

#: Symbolic dimension names bound by ``seq_len`` / ``batch`` (lower case).
SEQ_NAMES = frozenset(
    {
        "seq",
        "seq_len",
        "seqlen",
        "seq_length",
        "sequence",
        "sequence_len",
        "sequence_length",
        "tokens",
        "num_tokens",
    }
)
BATCH_NAMES = frozenset({"batch", "batch_size", "bs", "b", "n"})

INSTALL_HINT = (
    'importing ONNX models needs the onnx package: pip install "mlsched[onnx]"'
)


class OnnxUnavailable(InputError):
    """The ``onnx`` package is not installed."""


@dataclass(frozen=True)
class Node:
    """One ONNX node: what the importer needs of it."""

    index: int
    name: str
    op_type: str
    domain: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any]


@dataclass(frozen=True)
class Graph:
    """An ONNX graph with every symbolic dimension bound.

    ``sources`` are the values no node computes at run time: graph
    inputs, initializers and ``Constant`` outputs; ``inputs`` are the
    graph inputs that are not initializers.
    """

    nodes: tuple[Node, ...]
    shapes: Mapping[str, tuple[int, ...]]
    sources: frozenset[str]
    inputs: frozenset[str]
    outputs: tuple[str, ...]
    label: str
    opset: int
    producer: Mapping[str, Node] = field(default_factory=dict)
    constants: Mapping[str, Any] = field(default_factory=dict)


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise OnnxUnavailable(INSTALL_HINT) from None
    return onnx


def load_graph(
    source: str | os.PathLike[str] | Any,
    dims: Mapping[str, int],
    seq_len: int | None = None,
    batch: int | None = None,
) -> Graph:
    """Read, bind and shape-infer a model.

    Parameters
    ----------
    source
        A path to an ``.onnx`` file or an ``onnx.ModelProto``.
    dims
        Values of symbolic dimensions by name.
    seq_len, batch
        Values for the symbolic dimensions with a usual sequence or
        batch name (:data:`SEQ_NAMES`, :data:`BATCH_NAMES`) not in
        ``dims``.

    Raises
    ------
    InputError
        One line naming the problem: a missing or corrupted file, an
        unbound dimension, failed shape inference.
    """
    onnx = _onnx()
    model, label = _read_model(onnx, source)
    model, weights = _without_weights(onnx, model)
    symbols = _symbols(model, weights)
    for name in dims:
        if name not in symbols:
            raise InputError(
                f"model {label}: no input has a dimension named {name!r} "
                f"(symbolic: {', '.join(symbols) or 'none'})"
            )
    bound = resolve_dims(symbols, dims, seq_len, batch)
    _bind_inputs(model, bound, label, weights)
    try:
        model = onnx.shape_inference.infer_shapes(
            model, strict_mode=True, data_prop=True
        )
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises several unrelated types
        first = str(exc).strip().splitlines()
        raise InputError(
            f"model {label}: invalid graph: {first[0] if first else exc}"
        ) from None
    return _graph(onnx, model, label, weights)


def _read_model(onnx: Any, source: Any) -> tuple[Any, str]:
    if isinstance(source, onnx.ModelProto):
        return source, "(ModelProto)"
    if not isinstance(source, (str, os.PathLike)):
        raise InputError(
            f"model: expected a path or onnx.ModelProto, got "
            f"{type(source).__name__}"
        )
    label = str(source).encode("unicode_escape").decode("ascii")
    if not Path(source).is_file():
        raise InputError(f"model {label}: no such file")
    try:
        return onnx.load(os.fspath(source), load_external_data=False), label
    except Exception as exc:  # DecodeError, OSError, external data
        text = str(exc).strip().splitlines()
        reason = text[0] if text else type(exc).__name__
        raise InputError(
            f"model {label}: not a readable ONNX model ({reason})"
        ) from None


def _without_weights(onnx: Any, model: Any) -> tuple[Any, frozenset[str]]:
    """A copy of the model whose large initializers are typed inputs.

    Only shapes matter here, and shape inference cannot take a model over
    protobuf's 2 GB limit; the names of all initializers are returned so
    they still count as constants.
    """
    graph = model.graph
    light = onnx.ModelProto()
    light.ir_version = model.ir_version
    light.opset_import.extend(model.opset_import)
    light.functions.extend(model.functions)
    out = light.graph
    out.name = graph.name
    for field_name in ("node", "input", "output", "value_info"):
        getattr(out, field_name).extend(getattr(graph, field_name))
    declared = {v.name for v in graph.input}
    for tensor in graph.initializer:
        if _small(tensor):
            out.initializer.append(tensor)
        elif tensor.name not in declared:
            out.input.append(
                onnx.helper.make_tensor_value_info(
                    tensor.name, tensor.data_type, list(tensor.dims)
                )
            )
    return light, frozenset(t.name for t in graph.initializer)


def resolve_dims(
    symbols: list[str],
    dims: Mapping[str, int],
    seq_len: int | None,
    batch: int | None,
) -> dict[str, int]:
    """Bind each symbolic name: by ``dims``, else by ``seq_len``/``batch``."""
    bound = {}
    for name in symbols:
        if name in dims:
            bound[name] = dims[name]
        elif seq_len is not None and name.lower() in SEQ_NAMES:
            bound[name] = seq_len
        elif batch is not None and name.lower() in BATCH_NAMES:
            bound[name] = batch
    return bound


def _symbols(model: Any, weights: frozenset[str]) -> list[str]:
    """Symbolic dimension names of the graph inputs, in order."""
    names: list[str] = []
    for value in model.graph.input:
        if value.name in weights:
            continue
        for dim in value.type.tensor_type.shape.dim:
            if dim.HasField("dim_param") and dim.dim_param not in names:
                names.append(dim.dim_param)
    return names


def _hint(name: str) -> str:
    if name.lower() in SEQ_NAMES:
        return f"--seq-len N or --dim {name}=N"
    if name.lower() in BATCH_NAMES:
        return f"--batch N or --dim {name}=N"
    return f"--dim {name}=N"


def _bind_inputs(
    model: Any, dims: Mapping[str, int], label: str, weights: frozenset[str]
) -> None:
    """Give every graph input a static shape; let inference redo the rest."""
    graph = model.graph
    for value in graph.input:
        if value.name in weights:
            continue
        if not value.type.HasField("tensor_type"):
            raise InputError(
                f"model {label}: input {value.name!r} is not a tensor"
            )
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if dim.HasField("dim_value") and dim.dim_value > 0:
                continue
            if dim.HasField("dim_param") and dim.dim_param in dims:
                dim.dim_value = dims[dim.dim_param]
                continue
            what = (
                f"the unbound dimension {dim.dim_param!r}; bind it with "
                f"{_hint(dim.dim_param)}"
                if dim.HasField("dim_param")
                else "of unknown size and has no name to bind"
            )
            raise InputError(
                f"model {label}: input {value.name!r} axis {axis} is {what}"
            )
    del graph.value_info[:]
    for value in graph.output:
        value.type.tensor_type.ClearField("shape")


def _graph(
    onnx: Any, model: Any, label: str, weights: frozenset[str]
) -> Graph:
    graph = model.graph
    shapes: dict[str, tuple[int, ...]] = {}
    for value in (*graph.input, *graph.value_info, *graph.output):
        shape = _static_shape(value)
        if shape is not None:
            shapes[value.name] = shape
    for tensor in graph.initializer:
        shapes[tensor.name] = tuple(int(d) for d in tensor.dims)
    sources = {v.name for v in graph.input}
    constants = {}
    for tensor in graph.initializer:
        sources.add(tensor.name)
        if _small(tensor):
            constants[tensor.name] = onnx.numpy_helper.to_array(tensor)
    nodes = []
    for i, node in enumerate(graph.node):
        attrs = {
            a.name: onnx.helper.get_attribute_value(a) for a in node.attribute
        }
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            sources.update(node.output)
            value = attrs.get("value")
            if isinstance(value, onnx.TensorProto) and _small(value):
                constants[node.output[0]] = onnx.numpy_helper.to_array(value)
            continue
        nodes.append(
            Node(
                index=i,
                name=node.name or f"{node.op_type}_{i}",
                op_type=node.op_type,
                domain=node.domain,
                inputs=tuple(node.input),
                outputs=tuple(node.output),
                attrs=attrs,
            )
        )
    producer = {out: n for n in nodes for out in n.outputs if out}
    return Graph(
        nodes=tuple(nodes),
        shapes=shapes,
        sources=frozenset(sources),
        inputs=frozenset(v.name for v in graph.input) - weights,
        outputs=tuple(v.name for v in graph.output),
        label=label,
        opset=_opset(model),
        producer=producer,
        constants=constants,
    )


def _small(tensor: Any) -> bool:
    """Whether a constant is small enough to read (axes, scalars)."""
    count = 1
    for d in tensor.dims:
        count *= d
    return count <= 64 and not tensor.external_data


def _opset(model: Any) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return 1


def _static_shape(value: Any) -> tuple[int, ...] | None:
    ttype = value.type.tensor_type
    if not value.type.HasField("tensor_type") or not ttype.HasField("shape"):
        return None
    dims = []
    for dim in ttype.shape.dim:
        if not (dim.HasField("dim_value") and dim.dim_value > 0):
            return None
        dims.append(int(dim.dim_value))
    return tuple(dims)
