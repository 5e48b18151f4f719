"""Small ONNX models built with ``onnx.helper`` for the importer tests.

Every builder returns an ``onnx.ModelProto``; weights are zeros (only
shapes matter). Sizes are multiples of 128 so costs are easy to derive.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 23  # RMSNormalization


class Builder:
    """Accumulates nodes and initializers of one graph."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []

    def weight(self, name: str, *shape: int) -> str:
        self.inits.append(
            numpy_helper.from_array(np.zeros(shape, np.float32), name)
        )
        return name

    def ints(self, name: str, values: list[int]) -> str:
        self.inits.append(
            numpy_helper.from_array(np.array(values, np.int64), name)
        )
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        self.nodes.append(
            helper.make_node(op, inputs, [name], name=name, **attrs)
        )
        return name

    def model(
        self, inputs: dict[str, list[int | str]], output: str
    ) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            "test",
            [
                helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
                for n, s in inputs.items()
            ],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
            self.inits,
        )
        return helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)]
        )


def mlp(batch: int = 2, seq: int = 128, d: int = 128, f: int = 512) -> Any:
    """x[batch, seq, d] -> MatMul W1 -> Add b1 -> Relu -> MatMul W2."""
    b = Builder()
    h = b.node("MatMul", ["x", b.weight("w1", d, f)], "fc1")
    h = b.node("Add", [h, b.weight("b1", f)], "bias1")
    h = b.node("Relu", [h], "relu")
    b.node("MatMul", [h, b.weight("w2", f, d)], "fc2")
    return b.model({"x": [batch, seq, d]}, "fc2")


def swiglu_block(b: Builder, x: str, d: int, f: int, tag: str) -> str:
    """down((gate(x) * sigmoid(gate(x))) * up(x))."""
    gate = b.node("MatMul", [x, b.weight(f"{tag}wg", d, f)], f"{tag}gate")
    up = b.node("MatMul", [x, b.weight(f"{tag}wu", d, f)], f"{tag}up")
    sig = b.node("Sigmoid", [gate], f"{tag}sigmoid")
    silu = b.node("Mul", [gate, sig], f"{tag}silu")
    hidden = b.node("Mul", [silu, up], f"{tag}glu")
    return b.node("MatMul", [hidden, b.weight(f"{tag}wd", f, d)], f"{tag}down")


def swiglu(seq: int = 256, d: int = 128, f: int = 384) -> Any:
    """A SwiGLU MLP on x[seq, d]."""
    b = Builder()
    out = swiglu_block(b, "x", d, f, "")
    return b.model({"x": [seq, d]}, out)


def attention_block(
    b: Builder,
    x: str,
    d: int,
    heads: int,
    tag: str,
    shape4: str,
    batch: int = 1,
    masked: str | None = None,
) -> str:
    """Multi-head self-attention as PyTorch exports it; ``masked`` is a
    boolean [seq, seq] value, True where a score is set to -inf."""
    dh = d // heads
    proj = {}
    for p in "qkv":
        mm = b.node("MatMul", [x, b.weight(f"{tag}w{p}", d, d)], f"{tag}{p}")
        proj[p] = b.node("Reshape", [mm, shape4], f"{tag}{p}4")
    q = b.node("Transpose", [proj["q"]], f"{tag}qh", perm=[0, 2, 1, 3])
    kt = b.node("Transpose", [proj["k"]], f"{tag}kt", perm=[0, 2, 3, 1])
    v = b.node("Transpose", [proj["v"]], f"{tag}vh", perm=[0, 2, 1, 3])
    scale = f"{tag}scale_value"
    b.inits.append(
        numpy_helper.from_array(np.array(dh**-0.5, np.float32), scale)
    )
    s = b.node("MatMul", [q, kt], f"{tag}scores")
    s = b.node("Mul", [s, scale], f"{tag}scale")
    if masked is not None:
        b.inits.append(
            numpy_helper.from_array(
                np.array(-np.inf, np.float32), f"{tag}minus_inf"
            )
        )
        s = b.node("Where", [masked, f"{tag}minus_inf", s], f"{tag}mask")
    p = b.node("Softmax", [s], f"{tag}softmax", axis=-1)
    ctx = b.node("MatMul", [p, v], f"{tag}pv")
    ctx = b.node("Transpose", [ctx], f"{tag}merge_t", perm=[0, 2, 1, 3])
    shape3 = b.ints(f"{tag}shape3", [batch, -1, d])
    ctx = b.node("Reshape", [ctx, shape3], f"{tag}merge")
    return b.node("MatMul", [ctx, b.weight(f"{tag}wo", d, d)], f"{tag}o")


def attention(
    seq: int = 256, d: int = 512, heads: int = 4, batch: int = 1
) -> Any:
    """One self-attention block on x[batch, seq, d]."""
    b = Builder()
    shape4 = b.ints("shape4", [batch, seq, heads, d // heads])
    out = attention_block(b, "x", d, heads, "", shape4, batch)
    return b.model({"x": [batch, seq, d]}, out)


def decoder(
    d: int = 256, heads: int = 2, f: int = 512, layers: int = 2
) -> Any:
    """Pre-norm decoder layers on x[1, "seq_len", d].

    The head split reshape takes its shape from ``Shape(x)`` as exported
    models do, so only shape inference knows it.
    """
    b = Builder()
    shape = b.node("Shape", ["x"], "x_shape")
    lead = b.node(
        "Slice", [shape, b.ints("zero", [0]), b.ints("two", [2])], "lead"
    )
    shape4 = b.node(
        "Concat", [lead, b.ints("hd", [heads, d // heads])], "shape4", axis=0
    )
    x = "x"
    for layer in range(layers):
        tag = f"l{layer}."
        n1 = b.node(
            "RMSNormalization", [x, b.weight(f"{tag}g1", d)], f"{tag}norm1"
        )
        att = attention_block(b, n1, d, heads, tag, shape4)
        x = b.node("Add", [x, att], f"{tag}res1")
        n2 = b.node(
            "RMSNormalization", [x, b.weight(f"{tag}g2", d)], f"{tag}norm2"
        )
        mlp_out = swiglu_block(b, n2, d, f, tag)
        x = b.node("Add", [x, mlp_out], f"{tag}res2")
    return b.model({"x": [1, "seq_len", d]}, x)


def torch_rmsnorm(b: Builder, x: str, d: int, tag: str) -> str:
    """x * rsqrt(mean(x²) + eps) * g, as torch.onnx.export (TorchScript)
    writes it: Pow, ReduceMean, Add, Sqrt, Div(1, ·), Mul, Mul."""
    two = b.node("Constant", [], f"{tag}two", value_float=2.0)
    sq = b.node("Pow", [x, two], f"{tag}pow")
    mean = b.node("ReduceMean", [sq, b.ints(f"{tag}last", [-1])], f"{tag}ms")
    eps = b.node("Constant", [], f"{tag}eps", value_float=1e-6)
    var = b.node("Add", [mean, eps], f"{tag}add_eps")
    root = b.node("Sqrt", [var], f"{tag}sqrt")
    one = b.node("Constant", [], f"{tag}one", value_float=1.0)
    inv = b.node("Div", [one, root], f"{tag}rsqrt")
    h = b.node("Mul", [x, inv], f"{tag}scale_rows")
    return b.node("Mul", [h, b.weight(f"{tag}g", d)], f"{tag}gain")


def torch_causal_attention(d: int = 256, heads: int = 2) -> Any:
    """RMSNorm and causal self-attention on x[1, "seq_len", d], with the
    shape arithmetic of a TorchScript export: the view shape is
    Unsqueeze(Gather(Shape(x))) concatenated with constants, and the
    mask is Not(Trilu(ConstantOfShape([t, t]))) cast to bool.
    """
    b = Builder()
    shape = b.node("Shape", ["x"], "shape")
    dims = {
        axis: b.node(
            "Unsqueeze",
            [
                b.node(
                    "Gather",
                    [
                        shape,
                        b.node("Constant", [], f"i{axis}", value_int=axis),
                    ],
                    f"dim{axis}",
                ),
                b.ints(f"ax{axis}", [0]),
            ],
            f"dim{axis}_1d",
        )
        for axis in (0, 1)
    }
    shape4 = b.node(
        "Concat",
        [dims[0], dims[1], b.ints("hd", [heads, d // heads])],
        "shape4",
        axis=0,
    )
    square = b.node("Concat", [dims[1], dims[1]], "tt", axis=0)
    ones = b.node(
        "ConstantOfShape",
        [square],
        "ones",
        value=helper.make_tensor("one", TensorProto.BOOL, [1], [True]),
    )
    tril = b.node("Trilu", [ones, b.ints("k0", [0])], "tril", upper=0)
    future = b.node("Not", [tril], "future")
    future = b.node("Cast", [future], "future_b", to=TensorProto.BOOL)
    norm = torch_rmsnorm(b, "x", d, "n1.")
    out = attention_block(b, norm, d, heads, "", shape4, masked=future)
    return b.model({"x": [1, "seq_len", d]}, out)


def gemm_transposed() -> Any:
    """Gemm(x[256, 128], W[512, 128]ᵀ) + bias[512], as nn.Linear exports."""
    b = Builder()
    b.node(
        "Gemm",
        ["x", b.weight("w", 512, 128), b.weight("bias", 512)],
        "linear",
        transB=1,
    )
    return b.model({"x": [256, 128]}, "linear")


def rowwise() -> Any:
    """Cast, LayerNorm, MatMul, Gelu, a row mean and a centring Sub."""
    b = Builder()
    h = b.node("Cast", ["x"], "cast", to=TensorProto.FLOAT)
    h = b.node(
        "LayerNormalization",
        [h, b.weight("gamma", 256), b.weight("beta", 256)],
        "ln",
    )
    fc = b.node("MatMul", [h, b.weight("w", 256, 512)], "fc")
    h = b.node("Gelu", [fc], "gelu")
    mean = b.node("ReduceMean", [h, b.ints("last", [-1])], "mean", keepdims=1)
    h = b.node("Sub", [h, mean], "center")
    b.node("Flatten", [h], "flat", axis=1)
    return b.model({"x": [128, 256]}, "flat")


def relu_only() -> Any:
    """A model without any MatMul."""
    b = Builder()
    b.node("Relu", ["x"], "relu")
    return b.model({"x": [128, 128]}, "relu")


def with_conv() -> Any:
    """A MatMul followed by a Conv (unsupported)."""
    b = Builder()
    h = b.node("MatMul", ["x", b.weight("w", 128, 128)], "fc")
    h = b.node("Reshape", [h, b.ints("nchw", [1, 1, 128, 128])], "to_nchw")
    b.node("Conv", [h, b.weight("k", 1, 1, 3, 3)], "conv0", pads=[1] * 4)
    return b.model({"x": [128, 128]}, "conv0")


def softmax_axis0() -> Any:
    """A Softmax over the rows (axis 0): not a row-wise op."""
    b = Builder()
    h = b.node("MatMul", ["x", b.weight("w", 128, 128)], "fc")
    b.node("Softmax", [h], "colsoftmax", axis=0)
    return b.model({"x": [128, 128]}, "colsoftmax")
