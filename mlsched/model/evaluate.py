"""The exact evaluator: validity in both rule profiles, and latency."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlsched.model.cost import (
    TRAVERSALS,
    SubgraphCost,
    reference_cost,
    traversal_permutation,
    view_cost,
)
from mlsched.model.io import Source, load_problem, load_solution
from mlsched.model.problem import Problem
from mlsched.model.schedule import retained_in, unavailable_input
from mlsched.model.solution import Solution
from mlsched.model.subgraph import Grain, SubgraphView
from mlsched.model.types import RULES, Rules, isclose


@dataclass(frozen=True)
class SubgraphReport:
    """How one subgraph of a valid schedule costs what it costs."""

    index: int
    ops: tuple[int, ...]
    granularity: tuple[int, int, int]
    traversal: str
    retained_in: tuple[int, ...]
    retained_out: tuple[int, ...]
    cost: SubgraphCost
    capacity: int

    @property
    def latency(self) -> float:
        """The subgraph's latency."""
        return self.cost.latency

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        c = self.cost
        return {
            "index": self.index,
            "ops": list(self.ops),
            "granularity": list(self.granularity),
            "traversal": self.traversal,
            "retained_in": list(self.retained_in),
            "retained_out": list(self.retained_out),
            "tiles": list(c.tiles),
            "k_steps": c.k_steps,
            "working_set": c.working_set,
            "capacity": self.capacity,
            "compute_cells": c.compute_cells,
            "memory_cells": c.memory_cells,
            "bottleneck": c.bottleneck,
            "latency": c.latency,
        }


@dataclass(frozen=True)
class Evaluation:
    """The verdict on a schedule.

    Attributes
    ----------
    rules
        ``"strict"`` or ``"contest"``.
    valid
        Whether the schedule obeys every rule of the profile.
    category
        The SPEC category of the first violated rule, or ``None``.
    message
        What is wrong (naming the subgraph, op or tensor), or ``"valid"``.
    total_latency
        Sum of the subgraph latencies; ``inf`` when invalid.
    subgraph_latencies
        Latency of each subgraph; empty when invalid.
    subgraphs
        Per-subgraph details; empty when invalid.
    warnings
        Things that are not rule violations, such as claimed latencies that
        differ from the computed ones.
    """

    rules: Rules
    valid: bool
    category: str | None
    message: str
    total_latency: float = math.inf
    subgraph_latencies: tuple[float, ...] = ()
    subgraphs: tuple[SubgraphReport, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``total_latency`` is null when invalid)."""
        return {
            "rules": self.rules,
            "valid": self.valid,
            "category": self.category,
            "message": self.message,
            "total_latency": self.total_latency if self.valid else None,
            "subgraph_latencies": list(self.subgraph_latencies),
            "subgraphs": [s.to_dict() for s in self.subgraphs],
            "warnings": list(self.warnings),
        }


class _Violation(Exception):
    def __init__(self, category: str, message: str) -> None:
        super().__init__(message)
        self.category = category
        self.message = message


def _grain_violation(p: Problem, grain: Grain) -> tuple[str, str] | None:
    w_native, h_native = p.native_granularity
    if grain.w > w_native or grain.h > h_native:
        return (
            "grain_above_native",
            f"[{grain.w}, {grain.h}] exceeds native [{w_native}, {h_native}]",
        )
    if min(grain.w, grain.h, grain.k) <= 0:
        return "grain_not_positive", f"{grain.as_list()} is not positive"
    return None


def subgraph_violation(
    view: SubgraphView, grain: Grain, rules: Rules = "strict"
) -> tuple[str, str] | None:
    """The local rules one subgraph can break on its own, or None.

    Checks, in the evaluator's order, what depends only on the subgraph,
    its granularity and its retained sets: the granularity bounds, the
    fusion rules, the output shape, the working set and, in the strict
    profile, SPEC §8 items 1-3. The caller checks what needs the rest of
    the schedule (coverage, op order, retention sources, hidden tensors).

    Returns
    -------
    tuple or None
        ``(category, message)`` of the first broken rule.
    """
    bad_grain = _grain_violation(view.problem, grain)
    if bad_grain is not None:
        return bad_grain
    return _rule_violation(view, grain, rules)


def _rule_violation(
    view: SubgraphView, grain: Grain, rules: Rules
) -> tuple[str, str] | None:
    """:func:`subgraph_violation` after its granularity bounds."""
    p = view.problem
    fusion = view.fusion_violation(grain)
    if fusion is not None:
        return "fusion_rule", fusion
    shape = view.shape_violation()
    if shape is not None:
        return shape
    ws = view.working_set(grain)
    if ws > p.fast_memory_capacity:
        return (
            "out_of_memory",
            f"working set {ws} exceeds capacity {p.fast_memory_capacity}",
        )
    if rules == "strict":
        return view.strict_violation(grain)
    return None


def _check_contest(
    p: Problem, sol: Solution
) -> list[tuple[SubgraphView, Grain]]:
    n = sol.num_subgraphs
    lengths = {
        "granularities": len(sol.granularities),
        "tensors_to_retain": len(sol.tensors_to_retain),
        "traversal_orders": len(sol.traversal_orders),
        "subgraph_latencies": len(sol.subgraph_latencies),
    }
    for name, length in lengths.items():
        if length != n:
            raise _Violation(
                "field_lengths",
                f"{name} has {length} entries but subgraphs has {n}",
            )
    covered = {o for ops in sol.subgraphs for o in ops}
    missing = [o for o in range(p.num_ops) if o not in covered]
    if missing:
        raise _Violation(
            "op_not_covered",
            f"op {missing[0]} is in no subgraph"
            + (f" ({len(missing)} ops missing)" if len(missing) > 1 else ""),
        )
    member: dict[int, set[int]] = {}
    for s, ops in enumerate(sol.subgraphs):
        for o in ops:
            member.setdefault(o, set()).add(s)

    views: list[tuple[SubgraphView, Grain]] = []
    for s, retain_in in enumerate(retained_in(sol.tensors_to_retain)):
        try:
            views.append(_check_subgraph_contest(p, sol, s, retain_in, member))
        except _Violation as v:
            raise _Violation(v.category, f"subgraph {s}: {v.message}") from v
    return views


def _check_subgraph_contest(
    p: Problem,
    sol: Solution,
    s: int,
    retain_in: Sequence[int],
    member: dict[int, set[int]],
) -> tuple[SubgraphView, Grain]:
    ops = sol.subgraphs[s]
    raw = sol.granularities[s]
    if len(raw) != 3:
        raise _Violation(
            "grain_malformed", f"granularity {list(raw)} needs 3 entries"
        )
    grain = Grain.of(raw)
    bad_grain = _grain_violation(p, grain)
    if bad_grain is not None:
        raise _Violation(*bad_grain)
    if len(set(ops)) != len(ops):
        dup = next(o for o in ops if ops.count(o) > 1)
        raise _Violation("duplicate_op", f"op {dup} appears twice")
    for o in ops:
        if not 0 <= o < p.num_ops:
            raise _Violation(
                "index_out_of_range", f"op id {o} is not in 0..{p.num_ops - 1}"
            )
    position = {o: i for i, o in enumerate(ops)}
    for i, o in enumerate(ops):
        for t in p.inputs[o]:
            src = p.producer.get(t)
            if src is not None and position.get(src, -1) > i:
                raise _Violation(
                    "op_order",
                    f"op {o} reads tensor {t} before op {src} produces it",
                )
    retain_out = sol.tensors_to_retain[s]
    for t in retain_out:
        if not 0 <= t < p.num_tensors:
            raise _Violation(
                "index_out_of_range",
                f"retained tensor id {t} is not in 0..{p.num_tensors - 1}",
            )
    view = SubgraphView(p, ops, retain_out, retain_in)
    for t in retain_out:
        if t not in p.producer:
            raise _Violation(
                "retain_graph_input",
                f"tensor {t} is produced by no op and cannot be retained",
            )
        if t not in view.produced and t not in view.retain_in:
            raise _Violation(
                "retain_not_available",
                f"tensor {t} is retained but neither produced here nor "
                "retained into this subgraph",
            )
    for t in sorted(view.ephemeral):
        src = p.producer[t]
        for c in p.consumers[t]:
            if c not in view.opset and not member[c] & member[src]:
                raise _Violation(
                    "ephemeral_external_consumer",
                    f"tensor {t} stays inside the subgraph but op {c} "
                    "outside it reads it",
                )
    # The granularity bounds were checked first, in the rules' order.
    local = _rule_violation(view, grain, "contest")
    if local is not None:
        raise _Violation(*local)
    order = sol.traversal_orders[s]
    if order is not None:
        nw, nh = view.grid(grain)
        if sorted(order) != list(range(nw * nh)):
            raise _Violation(
                "bad_traversal",
                f"traversal order is not a permutation of 0..{nw * nh - 1}",
            )
    return view, grain


def _check_strict(
    p: Problem, sol: Solution, views: list[tuple[SubgraphView, Grain]]
) -> None:
    evicted: set[int] = set()
    for s, (view, grain) in enumerate(views):
        problem = view.strict_violation(grain)
        if problem is None:
            problem = _strict_data_flow(p, view, evicted)
        if problem is not None:
            category, message = problem
            raise _Violation(category, f"subgraph {s}: {message}")
        evicted.update(view.evicted)


def _strict_data_flow(
    p: Problem, view: SubgraphView, evicted: set[int]
) -> tuple[str, str] | None:
    for t in sorted(view.retain_out):
        if t in p.graph_outputs:
            return (
                "retain_graph_output",
                f"graph output tensor {t} must go to slow memory",
            )
        if t not in view.produced:
            return (
                "retain_not_produced",
                f"tensor {t} is retained but not produced here",
            )
    missing = unavailable_input(p, view, evicted)
    if missing is not None:
        return (
            "input_not_available",
            f"op {missing.op} reads tensor {missing.tensor}, which is "
            "neither a graph input nor written to slow memory before",
        )
    return None


def _named_traversal(
    order: Sequence[int] | None, nw: int, nh: int
) -> str | None:
    if order is None:
        return "raster"
    as_list = list(order)
    for name in TRAVERSALS:
        if as_list == traversal_permutation(name, nw, nh):
            return name
    return None


def evaluate(
    problem: Source | Problem,
    solution: Source | Solution,
    rules: Rules = "strict",
    reference: bool = False,
) -> Evaluation:
    """Check a schedule against the rules and compute its exact latency.

    Parameters
    ----------
    problem
        A :class:`Problem`, path, bundled name or dict.
    solution
        A :class:`Solution`, path or dict.
    rules
        ``"strict"`` (default) or ``"contest"`` (SPEC §8).
    reference
        Cost every subgraph with the per-cell reference simulation instead
        of the class oracle (slower; the two agree).

    Returns
    -------
    Evaluation
        The verdict. A broken rule is a result, not an exception.

    Raises
    ------
    InputError
        If the problem or solution is structurally malformed.
    ValueError
        If ``rules`` is not a known profile.
    """
    if rules not in RULES:
        raise ValueError(f"rules must be one of {RULES}, not {rules!r}")
    p = load_problem(problem)
    sol = load_solution(solution)
    try:
        views = _check_contest(p, sol)
        if rules == "strict":
            _check_strict(p, sol, views)
    except _Violation as v:
        return Evaluation(rules, False, v.category, v.message)

    reports = [
        _report(p, sol, s, view, grain, reference)
        for s, (view, grain) in enumerate(views)
    ]
    latencies = tuple(r.latency for r in reports)
    warnings = _latency_warnings(sol, reports)
    return Evaluation(
        rules=rules,
        valid=True,
        category=None,
        message="valid",
        total_latency=math.fsum(latencies),
        subgraph_latencies=latencies,
        subgraphs=tuple(reports),
        warnings=warnings,
    )


def _report(
    p: Problem,
    sol: Solution,
    s: int,
    view: SubgraphView,
    grain: Grain,
    reference: bool,
) -> SubgraphReport:
    """The cost report of subgraph ``s``, checked valid: by the class
    oracle for a named traversal, else by the reference simulation."""
    order = sol.traversal_orders[s]
    nw, nh = view.grid(grain)
    name = _named_traversal(order, nw, nh)
    if reference or name is None:
        cost = reference_cost(view, grain, order)
    else:
        cost = view_cost(view, grain, name)
    return SubgraphReport(
        index=s,
        ops=view.ops,
        granularity=(grain.w, grain.h, grain.k),
        traversal=name or "custom",
        retained_in=tuple(sorted(view.retain_in)),
        retained_out=tuple(sol.tensors_to_retain[s]),
        cost=cost,
        capacity=p.fast_memory_capacity,
    )


def _latency_warnings(
    sol: Solution, reports: Sequence[SubgraphReport]
) -> tuple[str, ...]:
    """One warning per claimed subgraph latency that differs from the
    computed one, the first five in full."""
    warnings: list[str] = []
    for s, report in enumerate(reports):
        claimed = sol.subgraph_latencies[s]
        computed = report.cost.latency
        if not isclose(claimed, computed):
            warnings.append(
                f"subgraph {s}: claimed latency {claimed:g} differs from "
                f"computed {computed:g}"
            )
    if len(warnings) > 5:
        more = len(warnings) - 5
        warnings = [*warnings[:5], f"... and {more} more claimed latencies"]
    return tuple(warnings)


def exact_objective(
    problem: Problem, solution: Solution, rules: Rules
) -> float:
    """The exact latency of a schedule mlsched built itself.

    Raises
    ------
    RuntimeError
        If the schedule is invalid: a bug in the method that built it,
        never to be handed to a user.
    """
    ev = evaluate(problem, solution, rules)
    if not ev.valid:
        raise RuntimeError(
            f"internal error: built an invalid schedule [{ev.category}] "
            f"{ev.message}"
        )
    return ev.total_latency
