"""Tests of the graph generator (API and ``mlsched generate``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run_cli, run_main

import mlsched
from mlsched import evaluate, load_problem
from mlsched.generator import (
    FAMILIES,
    MATMUL_COST_PER_K,
    POINTWISE_COST,
    PRESETS,
)
from mlsched.solve import solve

# Small dimensions keep every family's naive schedule quick to build.
SMALL = {"hidden": 256, "seq": 128, "heads": 4, "cache": 512, "ffn": 512}


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_loads_and_has_a_valid_schedule(family: str) -> None:
    """Tests that each family passes load_problem and that its
    one-op-per-subgraph schedule is valid in both profiles."""
    problem = mlsched.generate(family, layers=2, **SMALL)
    data = problem.model_dump(mode="json")
    assert load_problem(data) == problem
    result = solve(problem, method="naive")
    assert result.solution is not None
    for rules in ("strict", "contest"):
        assert evaluate(problem, result.solution, rules=rules).valid


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_same_problem(family: str) -> None:
    """Tests that a family built twice with one seed and jitter is equal."""
    a = mlsched.generate(family, seed=7, jitter=0.2, **SMALL)
    b = mlsched.generate(family, seed=7, jitter=0.2, **SMALL)
    assert a == b


@pytest.mark.parametrize(
    ("family", "params"),
    [
        ("moe", {}),  # the routing is seeded
        ("mlp", {"jitter": 0.2}),  # and so is the cost noise
    ],
)
def test_seed_changes_what_is_random(
    family: str, params: dict[str, Any]
) -> None:
    """Tests that another seed changes the routing or the jittered costs."""
    a = mlsched.generate(family, seed=1, **params, **SMALL)
    b = mlsched.generate(family, seed=2, **params, **SMALL)
    assert a != b


def test_costs_are_work_per_native_tile() -> None:
    """Tests the base costs of one dense layer without jitter.

    mlp with hidden 256: x @ W has K = 256, so 4 x 256 = 1,024; the bias
    add costs 100 and the gelu 200.
    """
    p = mlsched.generate("mlp", hidden=256)
    assert p.op_types == ("MatMul", "Pointwise", "Pointwise")
    assert p.base_costs == (MATMUL_COST_PER_K * 256, 100.0, 200.0)
    assert POINTWISE_COST["gelu"] == 200


@pytest.mark.parametrize(("kv_heads", "groups"), [(None, 8), (2, 2), (1, 1)])
def test_attention_shares_kv_heads(kv_heads: int | None, groups: int) -> None:
    """Tests MHA, GQA and MQA: one K and V projection per KV head.

    Per layer: 1 transpose, 2 per KV group, 5 per query head (q, scores,
    softmax, context, output projection) and 7 adds for 8 heads.
    """
    p = mlsched.generate("attention", heads=8, kv_heads=kv_heads)
    assert p.num_ops == 1 + 2 * groups + 5 * 8 + 7


def test_kvcache_reads_the_long_cache() -> None:
    """Tests that decode scores span the whole cache (1 x 4096 for one
    token) and that the new K and V are graph outputs."""
    p = mlsched.generate("kvcache", heads=2, cache=4096)
    scores = [
        p.outputs[o][0]
        for o in range(p.num_ops)
        if p.is_matmul[o] and p.widths[p.outputs[o][0]] == 4096
    ]
    assert len(scores) == 2
    assert all(p.heights[t] == 1 for t in scores)
    assert len(p.graph_outputs) == 2 * 2 + 1


@pytest.mark.parametrize("ops", [5, 100, 1000])
def test_ops_target_is_reached_within_one_layer(ops: int) -> None:
    """Tests that ``ops`` stacks just enough layers of a llama stack."""
    one = mlsched.generate("llama", layers=1).num_ops
    p = mlsched.generate("llama", ops=ops)
    assert ops <= p.num_ops < max(ops, one) + one


def test_presets_and_overrides() -> None:
    """Tests that a preset sets the machine and flags override it."""
    p = mlsched.generate("ffn", preset="small")
    assert p.fast_memory_capacity == PRESETS["small"].capacity
    q = mlsched.generate("ffn", preset="large", bandwidth=7.5)
    assert q.fast_memory_capacity == PRESETS["large"].capacity
    assert q.slow_memory_bandwidth == 7.5


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"family": "rnn"}, "family must be one of"),
        ({"family": "mlp", "preset": "huge"}, "preset must be one of"),
        ({"family": "mlp", "layers": 0}, "layers must be at least 1"),
        ({"family": "mlp", "ops": 0}, "ops must be at least 1"),
        ({"family": "mlp", "hidden": 0}, "hidden must be at least 1"),
        ({"family": "attention", "kv_heads": 3}, "must divide heads 8"),
        ({"family": "mlp", "capacity": -1}, "capacity -1 is not positive"),
    ],
)
def test_bad_parameters(params: dict[str, Any], message: str) -> None:
    """Tests that invalid parameters raise a ValueError naming them."""
    with pytest.raises(ValueError, match=message):
        mlsched.generate(**params)


def test_cli_writes_a_loadable_problem(tmp_path: Path) -> None:
    """Tests that ``mlsched generate`` writes what the API builds."""
    out = tmp_path / "g.json"
    proc = run_cli(
        "generate", "swiglu", "--layers", "2", "--seed", "3", "-o", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    assert "10 ops" in proc.stdout
    problem = load_problem(out)
    assert problem == mlsched.generate("swiglu", layers=2, seed=3)
    assert json.loads(out.read_text())["op_types"][0] == "MatMul"


def test_cli_bad_flag_is_one_line_exit_2(tmp_path: Path) -> None:
    """Tests that an impossible dimension is a one-line error, exit 2."""
    out = tmp_path / "g.json"
    proc = run_main("generate", "attention", "--kv-heads", "3", "-o", str(out))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "kv_heads 3" in proc.stderr
    assert not out.exists()
