"""Tests of ``mlsched import`` and of ``--names`` in evaluate and plot."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
from cli_runner import run_cli, run_main

from mlsched import cli, load_problem


@pytest.fixture
def models() -> ModuleType:
    """The model builders (needs onnx)."""
    pytest.importorskip("onnx")
    import onnx_models

    return onnx_models


def save(models: ModuleType, builder: str, path: Path) -> Path:
    """Build a model and write it as .onnx."""
    import onnx

    onnx.save(getattr(models, builder)(), path)
    return path


def test_dynamic_seq_len_imports_solves_and_labels(
    tmp_path: Path, models: ModuleType
) -> None:
    """Tests the whole path on a decoder exported with a dynamic sequence
    length: import with --seq-len 2048 (56 ops, see test_from_onnx),
    solve, then evaluate with the op names of the sidecar."""
    model = save(models, "decoder", tmp_path / "decoder.onnx")
    done = run_main(
        "import",
        str(model),
        "--seq-len",
        "2048",
        "-o",
        "p.json",
        "--names",
        "names.json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "56 ops (28 MatMul, 28 Pointwise)" in done.stdout
    problem = load_problem(tmp_path / "p.json")
    assert problem.num_ops == 56
    assert max(problem.heights) == 2048
    names = json.loads((tmp_path / "names.json").read_text())
    assert len(names["ops"]) == 56
    assert len(names["tensors"]) == problem.num_tensors
    solved = run_cli(
        "solve",
        "p.json",
        "--method",
        "heuristic",
        "-o",
        "s.json",
        "-q",
        cwd=tmp_path,
    )
    assert solved.returncode == 0, solved.stderr
    shown = run_main(
        "evaluate", "p.json", "s.json", "--names", "names.json", cwd=tmp_path
    )
    assert shown.returncode == 0, shown.stderr
    assert "l0.norm1" in shown.stdout
    assert "valid (strict)" in shown.stdout


def test_unbound_seq_len_is_one_line(
    tmp_path: Path, models: ModuleType
) -> None:
    """Tests that without --seq-len the import fails with one line that
    names the dimension and how to bind it, and writes nothing."""
    model = save(models, "decoder", tmp_path / "decoder.onnx")
    done = run_main("import", str(model), "-o", "p.json", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "'seq_len'" in lines[0] and "--seq-len N" in lines[0]
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize(
    ("builder", "content", "args", "message"),
    [
        ("with_conv", None, [], "node 'conv0' (Conv): is not supported"),
        ("relu_only", None, [], "no MatMul or Gemm node"),
        (None, b"\x08\x07garbage\xff", [], "not a readable ONNX model"),
        (None, None, [], "no such file"),
        ("mlp", None, ["--dim", "seq"], "expected NAME=VALUE"),
        ("mlp", None, ["--capacity", "0"], "fast_memory_capacity"),
        ("mlp", None, ["--device", "nope"], "unknown device preset"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    tmp_path: Path,
    models: ModuleType,
    builder: str | None,
    content: bytes | None,
    args: list[str],
    message: str,
) -> None:
    """Tests that unsupported ops, a corrupted file, a missing file, a
    model without MatMuls and bad flags each get one line and exit 2."""
    path = tmp_path / "model.onnx"
    if builder is not None:
        save(models, builder, path)
    elif content is not None:
        path.write_bytes(content)
    done = run_main("import", str(path), "-o", "p.json", *args, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert message in lines[0]
    assert not (tmp_path / "p.json").exists()


def test_without_onnx_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tests that without the onnx package the command says how to
    install it and exits 2 (the import is simulated to fail)."""
    monkeypatch.setitem(sys.modules, "onnx", None)
    code = cli.main(["import", "model.onnx", "-o", "p.json"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert 'pip install "mlsched[onnx]"' in err


def test_list_devices_and_stdout(tmp_path: Path, models: ModuleType) -> None:
    """Tests that --list-devices names the presets and that without -o
    the problem JSON goes to stdout."""
    listed = run_main("import", "--list-devices", cwd=tmp_path)
    assert listed.returncode == 0
    assert listed.stdout.split()[0] == "contest"
    model = save(models, "mlp", tmp_path / "mlp.onnx")
    done = run_main("import", str(model), "--native", "64", "64", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    problem = load_problem(json.loads(done.stdout))
    assert problem.native_granularity == (64, 64)
    assert "(adjusted)" in done.stderr


def test_names_of_another_problem_are_refused(
    tmp_path: Path, models: ModuleType
) -> None:
    """Tests that evaluate --names refuses a sidecar whose op count does
    not match the problem (exit 2, one line)."""
    model = save(models, "mlp", tmp_path / "mlp.onnx")
    run_main(
        "import", str(model), "-o", "p.json", "--names", "n.json", cwd=tmp_path
    )
    run_main(
        "solve",
        "mlsys-2026-5",
        "--method",
        "naive",
        "-o",
        "s.json",
        cwd=tmp_path,
    )
    done = run_main(
        "evaluate",
        "mlsys-2026-5",
        "s.json",
        "--names",
        "n.json",
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "4 ops and 7 tensors" in done.stderr
    assert done.stderr.count("\n") == 1


def test_plot_with_names(tmp_path: Path, models: ModuleType) -> None:
    """Tests that plot --names draws the schedule of an imported model."""
    pytest.importorskip("matplotlib")
    model = save(models, "swiglu", tmp_path / "swiglu.onnx")
    run_main(
        "import", str(model), "-o", "p.json", "--names", "n.json", cwd=tmp_path
    )
    run_main(
        "solve",
        "p.json",
        "--method",
        "heuristic",
        "-o",
        "s.json",
        cwd=tmp_path,
    )
    done = run_main(
        "plot",
        "p.json",
        "s.json",
        "--names",
        "n.json",
        "-o",
        "s.png",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "s.png").stat().st_size > 10_000


def test_skip_unsupported_warns_once(
    tmp_path: Path, models: ModuleType
) -> None:
    """Tests that --skip-unsupported imports a Conv with exactly one
    warning line naming the node, and exit 0."""
    model = save(models, "with_conv", tmp_path / "conv.onnx")
    done = run_main(
        "import",
        str(model),
        "--skip-unsupported",
        "-o",
        "p.json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("mlsched: warning: node 'conv0' (Conv)")
    assert load_problem(tmp_path / "p.json").num_ops == 2
