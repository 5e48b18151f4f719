"""Tests of ``mlsched.from_onnx`` on small models built with onnx.helper.

Device ``contest``: throughput 8192 flops, vector throughput 128
operations per time unit, native tile 128x128. So a MatMul costs
2·128·128·K / 8192 = 4·K per native tile, and a Pointwise op with w
operations per element 128·128·w / 128 = 128·w.
"""

from __future__ import annotations

from collections import Counter

import pytest

pytest.importorskip("onnx")

import onnx_models

from mlsched import InputError, Problem, evaluate, from_onnx, solve
from mlsched.importer import Device


def shape(problem: Problem, tensor: int) -> tuple[int, int]:
    """(rows, cols) of a tensor."""
    return problem.heights[tensor], problem.widths[tensor]


def op_shapes(problem: Problem, op: int) -> list[tuple[int, int]]:
    """Shapes of an op's inputs and then its output."""
    ts = (*problem.inputs[op], *problem.outputs[op])
    return [shape(problem, t) for t in ts]


def assert_solves(problem: Problem) -> None:
    """The list scheduler finds a schedule the evaluator accepts."""
    result = solve(problem, method="heuristic")
    assert result.solution is not None
    assert evaluate(problem, result.solution).valid


def test_mlp_folds_batch_into_rows() -> None:
    """Tests that an MLP on x[2, 128, 128] becomes 4 ops on 256-row
    tensors: the batch folds into the rows, the bias is part of its Add.

    fc1: K = 128 -> 4·128 = 512; bias1, relu: one operation per element
    -> 128; fc2: K = 512 -> 2048.
    """
    result = from_onnx(onnx_models.mlp())
    p = result.problem
    assert p.op_types == ("MatMul", "Pointwise", "Pointwise", "MatMul")
    assert p.base_costs == (512.0, 128.0, 128.0, 2048.0)
    assert op_shapes(p, 0) == [(256, 128), (128, 512), (256, 512)]
    assert op_shapes(p, 1) == [(256, 512), (256, 512)]
    assert op_shapes(p, 3) == [(256, 512), (512, 128), (256, 128)]
    # Graph inputs first: x, w1, w2; then one output per op.
    assert p.num_tensors == 7
    assert p.graph_inputs == {0, 1, 2}
    assert [o.label for o in result.names.ops] == [
        "fc1",
        "bias1",
        "relu",
        "fc2",
    ]
    assert [t.value for t in result.names.tensors[:3]] == ["x", "w1", "w2"]
    assert_solves(p)


def test_swiglu_shares_the_input_and_costs_sigmoid_higher() -> None:
    """Tests that a SwiGLU MLP becomes 3 MatMuls and 3 Pointwise ops,
    gate and up reading the same x tensor.

    gate, up: K = 128 -> 512; sigmoid: 4 operations -> 512; silu, glu:
    128; down: K = 384 -> 1536.
    """
    p = from_onnx(onnx_models.swiglu()).problem
    assert Counter(p.op_types) == {"MatMul": 3, "Pointwise": 3}
    assert p.base_costs == (512.0, 512.0, 512.0, 128.0, 128.0, 1536.0)
    assert p.inputs[0][0] == p.inputs[1][0]  # both read x
    assert p.inputs[3] == (p.outputs[0][0], p.outputs[2][0])  # gate*sig
    assert op_shapes(p, 5) == [(256, 384), (384, 128), (256, 128)]
    assert_solves(p)


def test_attention_splits_heads() -> None:
    """Tests that 4-head attention (S = 256, D = 512, dh = 128) becomes
    one op per head for every per-head step, like the contest graphs.

    Per head h: q, k, v projections (x @ W[:, h]: K = 512 -> 2048), a
    copy transposing K_h (128), scores (K = dh = 128 -> 512), scale
    (128), softmax (5 operations -> 640) and P·V (K = S = 256 -> 1024):
    8 ops x 4 heads; plus the copy merging the heads (128) and the output
    projection (K = 512 -> 2048): 34 ops, 21 of them MatMuls.
    """
    result = from_onnx(onnx_models.attention(seq=256, d=512, heads=4))
    p, labels = result.problem, [o.label for o in result.names.ops]
    assert p.num_ops == 34
    assert Counter(p.op_types) == {"MatMul": 21, "Pointwise": 13}
    op = {label: i for i, label in enumerate(labels)}
    for h in range(4):
        for proj in "qkv":
            i = op[f"{proj}[{h}]"]
            assert op_shapes(p, i) == [(256, 512), (512, 128), (256, 128)]
            assert p.base_costs[i] == 2048.0
        copy = op[f"kt:copy{h}"]
        assert p.inputs[copy] == p.outputs[op[f"k[{h}]"]]
        assert op_shapes(p, copy) == [(256, 128), (128, 256)]
        scores = op[f"scores[{h}]"]
        assert p.inputs[scores] == (
            p.outputs[op[f"q[{h}]"]][0],
            p.outputs[copy][0],
        )
        assert p.base_costs[scores] == 512.0
        assert p.base_costs[op[f"softmax[{h}]"]] == 640.0
        assert op_shapes(p, op[f"pv[{h}]"]) == [
            (256, 256),
            (256, 128),
            (256, 128),
        ]
        assert p.base_costs[op[f"pv[{h}]"]] == 1024.0
    merge = op["merge:copy0"]
    assert len(p.inputs[merge]) == 4
    assert shape(p, p.outputs[merge][0]) == (256, 512)
    assert op_shapes(p, op["o"]) == [(256, 512), (512, 512), (256, 512)]
    assert_solves(p)


def test_batched_attention_splits_batch_and_heads() -> None:
    """Tests that attention on x[2, 128, 256] with 2 heads makes one op
    per (batch, head) slice: each projection splits by batch row block
    and head column block (x becomes two row-block inputs shared by q, k
    and v).

    Ops: 3 projections x 4 slices + 5 per-slice steps (K copy, scores,
    scale, softmax, P·V) x 4 + the merge copy + the output projection
    = 34; the merge reads all 4 P·V outputs.
    """
    result = from_onnx(onnx_models.attention(seq=128, d=256, heads=2, batch=2))
    p, labels = result.problem, [o.label for o in result.names.ops]
    assert p.num_ops == 34
    assert Counter(p.op_types) == {
        "MatMul": 3 * 4 + 2 * 4 + 1,
        "Pointwise": 13,
    }
    x_blocks = {
        p.inputs[labels.index(f"{n}[{i}]")][0] for n in "qkv" for i in range(4)
    }
    assert len(x_blocks) == 2
    assert all(shape(p, t) == (128, 256) for t in x_blocks)
    assert len(p.inputs[labels.index("merge:copy0")]) == 4
    assert_solves(p)


def test_gemm_transposed_weight_and_bias() -> None:
    """Tests that Gemm with transB = 1 (nn.Linear) is one MatMul on the
    transposed weight, its bias part of the op: K = 128 -> 512."""
    p = from_onnx(onnx_models.gemm_transposed()).problem
    assert p.op_types == ("MatMul",)
    assert op_shapes(p, 0) == [(256, 128), (128, 512), (256, 512)]
    assert p.base_costs == (512.0,)
    assert_solves(p)


def test_rowwise_ops_and_folded_layout() -> None:
    """Tests row-wise ops: LayerNorm reads whole rows (8 operations per
    element -> 1024), a ReduceMean over 512 columns writes a 128x1 column
    (one operation per input element: 128 rows x 512 / 128 = 512), the
    Sub broadcasting it reads that column; Cast and Flatten vanish.

    fc: K = 256 -> 1024; gelu: 4 operations -> 512; center: 128.
    """
    p = from_onnx(onnx_models.rowwise()).problem
    assert p.op_types == (
        "Pointwise",
        "MatMul",
        "Pointwise",
        "Pointwise",
        "Pointwise",
    )
    assert p.base_costs == (1024.0, 1024.0, 512.0, 512.0, 128.0)
    assert op_shapes(p, 3) == [(128, 512), (128, 1)]
    assert op_shapes(p, 4) == [(128, 512), (128, 1), (128, 512)]
    assert p.inputs[0] == (0,)  # the graph input x itself, not a copy
    assert_solves(p)


def test_decoder_with_dynamic_seq_len() -> None:
    """Tests that two pre-norm decoder layers (RMSNorm, 2-head attention,
    residual, RMSNorm, SwiGLU, residual) import with seq_len bound.

    Per layer: 2 norms + 2 residual adds + 18 attention ops (8 per head
    + 2) + 6 SwiGLU ops = 28 ops, 11 + 3 = 14 MatMuls. RMSNorm (5
    operations per element) costs 640; its scale is part of the op.
    Tensors: x and 10 weight tensors per layer (q, k, v split in two
    heads each, o, gate, up, down), and one output per op: 21 + 56.
    """
    result = from_onnx(onnx_models.decoder(), seq_len=128)
    p, labels = result.problem, [o.label for o in result.names.ops]
    assert p.num_ops == 56
    assert Counter(p.op_types) == {"MatMul": 28, "Pointwise": 28}
    assert p.num_tensors == 21 + 56
    norm = labels.index("l1.norm1")
    assert p.base_costs[norm] == 640.0
    assert op_shapes(p, norm) == [(128, 256), (128, 256)]
    res = labels.index("l1.res2")
    assert p.outputs[res][0] in p.graph_outputs
    assert_solves(p)


def test_torch_export_shape_arithmetic_and_causal_mask() -> None:
    """Tests that the TorchScript export pattern of RMSNorm and causal
    attention imports: Shape/Gather/Unsqueeze/Concat and the Trilu mask
    fold to constants, the mask is part of its Where op.

    seq 256, d 256, 2 heads of 128. RMSNorm: Pow, Mul, Mul on 256x256 ->
    128 each; ReduceMean reads 256 columns per output -> 128·256/128 =
    256; Add eps, Sqrt, Div on the 256x1 column: a 1x128 native tile ->
    1 each. Per head: q, k, v (K = 256) -> 1024; K transposed by a copy
    -> 128; scores (K = 128) -> 512; scale, Where -> 128; softmax ->
    640; P·V (K = 256) -> 1024. Then the head merge copy 128 and o
    (K = 256) 1024. 7 + 2·9 + 2 = 27 ops, 11 of them MatMuls. Tensors:
    x, 7 weight blocks (q, k, v per head, o; the RMSNorm gain is part
    of its Mul), 27 outputs.
    """
    result = from_onnx(onnx_models.torch_causal_attention(), seq_len=256)
    p, labels = result.problem, [o.label for o in result.names.ops]
    assert Counter(p.op_types) == {"MatMul": 11, "Pointwise": 16}
    assert p.num_tensors == 8 + 27
    costs = dict(zip(labels, p.base_costs, strict=True))
    assert [costs[f"n1.{n}"] for n in ("pow", "ms", "add_eps")] == [
        128.0,
        256.0,
        1.0,
    ]
    assert [costs[n] for n in ("n1.sqrt", "n1.rsqrt", "n1.gain")] == [
        1.0,
        1.0,
        128.0,
    ]
    for head in (0, 1):
        where = labels.index(f"mask[{head}]")
        assert p.base_costs[where] == 128.0
        scale = p.outputs[labels.index(f"scale[{head}]")][0]
        assert p.inputs[where] == (scale,)  # the mask is no tensor
        assert costs[f"softmax[{head}]"] == 640.0
    assert {n.value for n in result.names.tensors[:8]} == {
        "x",
        "wq",
        "wk",
        "wv",
        "wo",
    }
    assert_solves(p)


def test_import_is_deterministic_and_topological() -> None:
    """Tests that importing twice gives the same problem and that op ids
    follow the ONNX node order."""
    model = onnx_models.decoder(layers=1)
    first = from_onnx(model, seq_len=128)
    second = from_onnx(model, seq_len=128)
    assert first.problem == second.problem
    assert first.names == second.names
    order = [n.name for n in model.graph.node]
    positions = [
        order.index(o.node) for o in first.names.ops if ":" not in o.label
    ]
    assert positions == sorted(positions)


def test_device_sets_capacity_bandwidth_and_costs() -> None:
    """Tests that a custom device's numbers reach the problem: a native
    64x64 tile at 1024 flops per time unit makes fc1 (K = 128) cost
    2·64·64·128 / 1024 = 1024."""
    device = Device(
        throughput=1024.0,
        vector_throughput=64.0,
        fast_memory_capacity=50_000,
        slow_memory_bandwidth=7.0,
        native_granularity=(64, 64),
    )
    p = from_onnx(onnx_models.mlp(), device).problem
    assert p.fast_memory_capacity == 50_000
    assert p.slow_memory_bandwidth == 7.0
    assert p.native_granularity == (64, 64)
    assert p.base_costs[0] == 1024.0
    assert p.base_costs[1] == 64.0  # 64·64 / 64
    assert_solves(p)


def test_skip_unsupported_imports_a_pointwise_op_with_a_warning() -> None:
    """Tests that --skip-unsupported turns a Conv into one Pointwise op
    reading its whole input and its kernel, with a warning naming it."""
    result = from_onnx(onnx_models.with_conv(), skip_unsupported=True)
    p = result.problem
    assert p.op_types == ("MatMul", "Pointwise")
    assert len(result.warnings) == 1
    assert "'conv0' (Conv)" in result.warnings[0]
    assert_solves(p)


@pytest.mark.parametrize(
    ("model", "kwargs", "message"),
    [
        (onnx_models.with_conv, {}, "node 'conv0' (Conv): is not supported"),
        (
            onnx_models.softmax_axis0,
            {},
            "node 'colsoftmax' (Softmax): works over axes [0]",
        ),
        (onnx_models.relu_only, {}, "no MatMul or Gemm node"),
        (onnx_models.decoder, {}, "axis 1 is the unbound dimension 'seq_len'"),
        (onnx_models.decoder, {"dims": {"seq": 8}}, "no input has a dim"),
        (onnx_models.mlp, {"device": "tpu-v9"}, "unknown device preset"),
        (onnx_models.mlp, {"seq_len": 0}, "seq_len must be positive"),
    ],
)
def test_bad_models_give_one_line_errors(
    model: object, kwargs: dict[str, object], message: str
) -> None:
    """Tests that each bad model or binding is a one-line InputError that
    names the node, dimension or value."""
    with pytest.raises(InputError) as info:
        from_onnx(model(), **kwargs)  # type: ignore[operator, arg-type]
    text = str(info.value)
    assert message in text
    assert "\n" not in text
