"""Which producer-consumer edges some valid subgraph can fuse."""

from __future__ import annotations

from mlsched.model.problem import Problem
from mlsched.model.types import Rules


def can_pass_inside(
    problem: Problem, rules: Rules, src: int, dst: int, t: int
) -> bool:
    """Whether some valid subgraph could hold tensor t, made by op ``src``,
    as an ephemeral input of op ``dst``.

    Only one fusion is ever out of reach: a Pointwise output fed to a
    MatMul whose K is beyond a native tile side. With more than one
    k-step that needs w (LHS) or h (RHS) >= K, and in the strict profile
    one k-step needs k >= K_slicing with k <= k_native, which only a
    tail with a small K allows (``dst`` then is its head). Both rules
    hold whether t is ephemeral or not (SPEC §4 item 7 names the ops,
    not the tensor's state), so where this is False no valid subgraph
    holds both ``src`` and ``dst`` (docs/lower-bound.md, (19)).
    """
    p = problem
    if p.is_matmul[src] or not p.is_matmul[dst]:
        return True
    k_op = p.k_op[dst]
    w_native, h_native = p.native_granularity
    lhs, rhs = p.inputs[dst]
    if rules == "contest" or k_op <= p.k_native:
        return True
    if (t == lhs and k_op <= w_native) or (t == rhs and k_op <= h_native):
        return True
    return any(
        p.is_matmul[c] and p.k_op[c] <= p.k_native
        for u in p.outputs[dst]
        for c in p.consumers[u]
    )


def square_k(problem: Problem, rules: Rules) -> int:
    """The largest K of a MatMul in a subgraph of three or more MatMuls
    or with a middle one: every MatMul there needs w = k = K (SPEC §4
    item 7), with w <= w_native (§4 item 3) and in strict k <= k_native
    (§8 item 1). A MatMul of larger K shares a subgraph with one other
    MatMul at most."""
    w_native = problem.native_granularity[0]
    return min(w_native, problem.k_native) if rules == "strict" else w_native


def may_be_ephemeral(problem: Problem, rules: Rules, src: int, t: int) -> bool:
    """Whether tensor t, made by op ``src``, is ephemeral in some valid
    subgraph.

    Never for a graph output, nor when a reader of t can never share a
    subgraph with ``src`` (:func:`can_pass_inside` False): an ephemeral
    t needs every reader outside its subgraph to meet ``src`` in some
    other one (SPEC §4 item 6), and a reader inside would read it
    ephemerally.
    """
    p = problem
    return t not in p.graph_outputs and all(
        can_pass_inside(p, rules, src, c, t) for c in p.consumers[t]
    )
