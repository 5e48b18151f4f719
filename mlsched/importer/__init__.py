"""Importing ONNX models as contest problems (needs ``mlsched[onnx]``).

``from_onnx`` reads a model, binds its symbolic dimensions, infers every
shape and maps its nodes to contest ops: MatMul and Gemm to MatMuls (a
batched MatMul to one per batch slice), element-wise and row-wise ops to
Pointwise ops, layout ops to views of their input. Costs are the work of
one native output tile over the device's throughput.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from mlsched.importer.devices import Device, device_presets, get_device
from mlsched.importer.graph import INSTALL_HINT, OnnxUnavailable, load_graph
from mlsched.importer.lower import Lowering
from mlsched.model.io import InputError, _one_line
from mlsched.model.problem import Problem
from mlsched.names import Names, OpName, TensorName

__all__ = [
    "INSTALL_HINT",
    "Device",
    "ImportResult",
    "OnnxUnavailable",
    "device_presets",
    "from_onnx",
    "get_device",
]


@dataclass(frozen=True)
class ImportResult:
    """An imported model: the problem, its names and the warnings."""

    problem: Problem
    names: Names
    warnings: tuple[str, ...]


def from_onnx(
    model: str | os.PathLike[str] | Any,
    device: str | Device | None = None,
    *,
    seq_len: int | None = None,
    batch: int | None = None,
    dims: Mapping[str, int] | None = None,
    skip_unsupported: bool = False,
) -> ImportResult:
    """Import an ONNX model as a contest problem.

    Parameters
    ----------
    model
        A path to an ``.onnx`` file or an ``onnx.ModelProto``.
    device
        A preset name (see :func:`device_presets`; default ``"contest"``)
        or a :class:`Device`.
    seq_len, batch
        Values for symbolic input dimensions with a usual sequence or
        batch name (``seq``, ``seq_len``, ``sequence_length``, ...;
        ``batch``, ``batch_size``, ...).
    dims
        Values for symbolic dimensions by exact name; they take
        precedence.
    skip_unsupported
        Import nodes that have no mapping as Pointwise ops reading their
        whole inputs (each with a warning) instead of failing.

    Returns
    -------
    ImportResult
        ``problem`` (ids in the graph's node order), ``names`` (op and
        tensor ids back to node and value names) and ``warnings``.

    Raises
    ------
    OnnxUnavailable
        Without the ``onnx`` package.
    InputError
        One line naming what is wrong: a missing or corrupted file, an
        unbound dimension, an unsupported node, a model without MatMul.
    """
    chosen = get_device(device)
    for flag, value in (("seq_len", seq_len), ("batch", batch)):
        if value is not None and value < 1:
            raise InputError(f"{flag} must be positive, not {value}")
    for name, value in (dims or {}).items():
        if value < 1:
            raise InputError(f"dimension {name!r} must be positive")
    graph = load_graph(model, dict(dims or {}), seq_len, batch)
    lowering = Lowering(graph, chosen, skip_unsupported)
    lowering.run()
    problem, names = _assemble(lowering)
    return ImportResult(problem, names, tuple(lowering.warnings))


def _assemble(lowering: Lowering) -> tuple[Problem, Names]:
    """The problem and names, graph inputs numbered first."""
    records = lowering.tensors
    order = [t for t, r in enumerate(records) if r.source]
    order += [t for t, r in enumerate(records) if not r.source]
    new_id = {old: new for new, old in enumerate(order)}
    device = lowering.device
    data = {
        "widths": [records[t].rect.cols for t in order],
        "heights": [records[t].rect.rows for t in order],
        "inputs": [[new_id[t] for t in op.inputs] for op in lowering.ops],
        "outputs": [[new_id[op.output]] for op in lowering.ops],
        "base_costs": [op.cost for op in lowering.ops],
        "op_types": [op.op_type for op in lowering.ops],
        "fast_memory_capacity": device.fast_memory_capacity,
        "slow_memory_bandwidth": device.slow_memory_bandwidth,
        "native_granularity": list(device.native_granularity),
    }
    try:
        problem = Problem.model_validate(data)
    except ValidationError as exc:
        raise InputError(
            f"model {lowering.graph.label}: the imported problem is "
            f"invalid: {_one_line(exc)}"
        ) from None
    names = Names(
        model=lowering.graph.label,
        ops=tuple(
            OpName(label=op.label, node=op.node, op_type=op.onnx_type)
            for op in lowering.ops
        ),
        tensors=tuple(
            TensorName(
                label=records[t].label,
                value=records[t].value,
                rows=(records[t].rect.r0, records[t].rect.r1),
                cols=(records[t].rect.c0, records[t].rect.c1),
            )
            for t in order
        ),
    )
    return problem, names
