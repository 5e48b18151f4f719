"""Export real PyTorch models to ONNX, import, solve and evaluate them.

Needs torch (not a dependency of mlsched). Exports with the TorchScript
exporter (``dynamo=False``) and a dynamic sequence axis: a 2-layer MLP,
a SwiGLU MLP and two llama-style decoder layers (RMSNorm, 4-head
self-attention via view/transpose/matmul/softmax, residuals, SwiGLU),
once without and once with a causal mask. Each model is imported with
``seq_len`` bound, solved by CP-SAT and checked by the evaluator; the
script prints one row per model and exits 1 if any schedule is invalid.

    python benchmarks/torch_export.py [--seq-len 2048] [--time-limit 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mlsched import evaluate, from_onnx, solve

D, HEADS, FFN, LAYERS = 256, 4, 768, 2


class MLP(nn.Module):
    """Linear, ReLU, Linear (with biases)."""

    def __init__(self, d: int = D, f: int = 4 * D) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, f), nn.Linear(f, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x)))


class SwiGLU(nn.Module):
    """down(silu(gate(x)) * up(x)), no biases."""

    def __init__(self, d: int = D, f: int = FFN) -> None:
        super().__init__()
        self.gate = nn.Linear(d, f, bias=False)
        self.up = nn.Linear(d, f, bias=False)
        self.down = nn.Linear(f, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class RMSNorm(nn.Module):
    """x * rsqrt(mean(x²) + eps) * weight."""

    def __init__(self, d: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(d)), eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return x * scale * self.weight


class Attention(nn.Module):
    """Multi-head self-attention written out with view and matmul."""

    def __init__(self, d: int, heads: int, causal: bool) -> None:
        super().__init__()
        self.heads, self.dh, self.causal = heads, d // heads, causal
        self.q, self.k, self.v, self.o = (
            nn.Linear(d, d, bias=False) for _ in range(4)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (
            p(x).view(b, t, self.heads, self.dh).transpose(1, 2)
            for p in (self.q, self.k, self.v)
        )
        scores = (q @ k.transpose(-2, -1)) / self.dh**0.5
        if self.causal:
            keep = torch.tril(torch.ones(t, t, dtype=torch.bool))
            scores = scores.masked_fill(~keep, float("-inf"))
        ctx = torch.softmax(scores, dim=-1) @ v
        return self.o(ctx.transpose(1, 2).contiguous().view(b, t, d))


class Layer(nn.Module):
    """Pre-norm decoder layer: attention and SwiGLU, each residual."""

    def __init__(self, causal: bool) -> None:
        super().__init__()
        self.norm1, self.norm2 = RMSNorm(D), RMSNorm(D)
        self.attn, self.mlp = Attention(D, HEADS, causal), SwiGLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def decoder(causal: bool) -> nn.Module:
    """LAYERS decoder layers."""
    return nn.Sequential(*(Layer(causal) for _ in range(LAYERS)))


MODELS = {
    "mlp": MLP,
    "swiglu": SwiGLU,
    "decoder": lambda: decoder(causal=False),
    "decoder-causal": lambda: decoder(causal=True),
}


def export(module: nn.Module, path: Path) -> Counter[str]:
    """Export with a dynamic sequence axis; the ONNX op counts."""
    import onnx

    x = torch.randn(1, 16, D)
    axes = {"x": {1: "seq_len"}, "y": {1: "seq_len"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript deprecation
        torch.onnx.export(
            module.eval(),
            (x,),
            str(path),
            dynamo=False,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes=axes,
        )
    return Counter(n.op_type for n in onnx.load(str(path)).graph.node)


def run(name: str, folder: Path, seq_len: int, time_limit: float) -> bool:
    """Export, import, solve and evaluate one model; print its row."""
    torch.manual_seed(0)
    path = folder / f"{name}.onnx"
    onnx_ops = export(MODELS[name](), path)
    problem = from_onnx(path, seq_len=seq_len).problem
    kinds = Counter(problem.op_types)
    result = solve(problem, time_limit=time_limit, num_workers=1)
    ev = evaluate(problem, result.solution) if result.solution else None
    valid = ev is not None and ev.valid
    latency = f"{ev.total_latency:,.1f}" if valid and ev else "invalid"
    print(
        f"{name:15} onnx nodes {sum(onnx_ops.values()):4}  "
        f"ops {problem.num_ops:4} ({kinds['MatMul']} MatMul, "
        f"{kinds['Pointwise']} Pointwise)  tensors {problem.num_tensors:4}"
        f"  {result.status.value:14} latency {latency}"
    )
    print(f"{'':15} torch emitted: {dict(sorted(onnx_ops.items()))}")
    return valid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--time-limit", type=float, default=5.0)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, seq_len {args.seq_len}")
    with tempfile.TemporaryDirectory() as tmp:
        ok = [
            run(m, Path(tmp), args.seq_len, args.time_limit)
            for m in args.models
        ]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
