"""Who pays for loading a tensor read by several ops.

Two ops reading tensor t in one subgraph may share its loads (a use
whose slice key equals the tensor's last key is free, SPEC §5.2), so a
lower bound may charge consumer c only a share ``s_c`` of its own least
load, with the shares of any set of consumers that can sit in one
subgraph summing to at most 1: the loads of t in a subgraph are at least
the largest least load of its readers there, hence at least the
share-weighted sum (docs/lower-bound.md, "Shared inputs").
"""

from __future__ import annotations

from mlsched.model.problem import Problem
from mlsched.model.types import Rules


def forced_steps(problem: Problem, rules: Rules, m: int) -> bool:
    """Whether every subgraph holding MatMul m has k-steps > 1.

    Strict only (k <= k_native and k <= K of every MatMul): one k-step
    needs k >= K_slicing. With K_op(m) > k_native that fails unless a
    tail of K <= k_native fixes K_slicing; with three MatMuls all K must
    equal k, so the tail is the only other MatMul and m is its head.
    """
    p = problem
    if rules != "strict" or p.k_op[m] <= p.k_native:
        return False
    return not any(
        p.is_matmul[c] and p.k_op[c] <= p.k_native
        for t in p.outputs[m]
        for c in p.consumers[t]
    )


def _feeds(problem: Problem, a: int, b: int) -> bool:
    """Whether one of the two ops reads an output of the other."""
    p = problem
    return any(t in p.inputs[b] for t in p.outputs[a]) or any(
        t in p.inputs[a] for t in p.outputs[b]
    )


def _estimate(problem: Problem, t: int, c: int) -> float:
    """A rough size of consumer c's least load of t, to rank options."""
    p = problem
    if not p.is_matmul[c]:
        return float(p.sizes[t])
    out = p.outputs[c][0]
    w_native, h_native = p.native_granularity
    if t == p.inputs[c][0]:
        return p.sizes[t] * max(1.0, p.widths[out] / w_native)
    return p.sizes[t] * max(1.0, p.heights[out] / h_native)


def _options(
    problem: Problem, rules: Rules, t: int, readers: list[int]
) -> list[dict[int, float]]:
    """Valid share assignments for ``readers`` of t, all Pointwise or
    all MatMul."""
    p = problem
    ranked = sorted(readers, key=lambda c: -_estimate(p, t, c))
    options: list[dict[int, float]] = [{ranked[0]: 1.0}]
    # k-steps > 1 everywhere: a subgraph holds at most one head and one
    # tail, the tail reading the head; other pairs never meet.
    apart: list[int] = []
    for c in ranked:
        if not p.is_matmul[c] or not forced_steps(p, rules, c):
            continue
        if not any(_feeds(p, c, d) for d in apart):
            apart.append(c)
    if len(apart) > 1:
        options.append(dict.fromkeys(apart, 1.0))
    # K > w_native: no square chain, so at most two MatMuls together.
    wide = [
        c
        for c in ranked
        if p.is_matmul[c] and p.k_op[c] > p.native_granularity[0]
    ]
    if len(wide) > 2:
        options.append(dict.fromkeys(wide, 0.5))
    return options


def load_shares(
    problem: Problem, rules: Rules
) -> dict[tuple[int, int], float]:
    """Share of each (tensor, consumer) load charged to the consumer."""
    p = problem
    shares: dict[tuple[int, int], float] = {}
    for t in range(p.num_tensors):
        # Pointwise slice keys (r, c, -) never equal a MatMul's, so the
        # two groups never share a load and are shared out separately.
        for matmul in (False, True):
            readers = [c for c in p.consumers[t] if p.is_matmul[c] == matmul]
            if not readers:
                continue
            best = max(
                _options(p, rules, t, readers),
                key=lambda opt: sum(
                    s * _estimate(p, t, c) for c, s in opt.items()
                ),
            )
            for c, s in best.items():
                shares[(t, c)] = s
    return shares
