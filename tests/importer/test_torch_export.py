"""Tests of the real PyTorch export path (benchmarks/torch_export.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "torch_export.py"


@pytest.mark.slow
def test_torch_exports_import_and_solve(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Tests that the MLP, SwiGLU and (causal) decoder exported by
    torch.onnx import at seq 256, solve and evaluate as valid; the MLP
    is 2 MatMuls and 3 Pointwise ops (2 bias Adds, ReLU), SwiGLU 3 + 3.
    """
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    spec = importlib.util.spec_from_file_location("torch_export", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--seq-len", "256", "--time-limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "ops    5 (2 MatMul, 3 Pointwise)" in out
    assert "ops    6 (3 MatMul, 3 Pointwise)" in out
    assert out.count("latency") == 4 and "invalid" not in out
