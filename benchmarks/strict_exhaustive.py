"""The best strict schedule of a small benchmark over every schedule
whose subgraphs have at most ``--max-ops`` ops, recomputation included.

A shortest path (Dijkstra; every subgraph costs more than 0) over states
that hold what the strict rules look at across subgraphs: the ops covered
(SPEC §4 item 2), the tensors in slow memory (§8 item 5), the tensors
retained by the previous subgraph (P), the producer-consumer pairs that
met in some subgraph and those a hidden tensor obliges to meet (§4 item
6). A step is any valid op set (ops in topological order) with any
retained set of up to ``--max-retain`` tensors it produces; its
granularity and traversal are the fine granularity optimizer's best for
that op set and context (so the search is exhaustive over op sets,
order of subgraphs, recomputation and retention, not over every tile
size). With ``--full-grain`` it is :class:`full_grain.FullGrain`'s
instead: every ``[w, h, k]`` and every named traversal, so the search
is exhaustive over tile sizes too (not over arbitrary tile orders). The
schedule found is evaluated exactly.

Usage::

    python benchmarks/strict_exhaustive.py mlsys-2026-2 [--max-ops 4]
        [--max-retain 2] [--full-grain]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import time

from full_grain import FullGrain

from mlsched import Problem, evaluate, load_problem
from mlsched.heuristics import DependencyAnalyzer, GranularityOptimizer
from mlsched.model import SubgraphView
from mlsched.model.schedule import Step, to_solution
from mlsched.model.types import Rules

Optimizer = GranularityOptimizer | FullGrain

State = tuple[
    frozenset[int],
    frozenset[int],
    frozenset[int],
    frozenset[tuple[int, int]],
    frozenset[tuple[int, int]],
]


def op_sets(p: Problem, opt: Optimizer, max_ops: int) -> list[tuple[int, ...]]:
    """Every op set of up to ``max_ops`` ops that some granularity may
    fit: the fine optimizer's test, or for :class:`FullGrain` only that
    its outputs share a shape (costing every ``[w, h, k]`` of every op
    set up front is what made large blocks slow; ``best`` says None
    later where nothing fits)."""
    deps = DependencyAnalyzer(p)
    out = []
    for k in range(1, max_ops + 1):
        for ops in itertools.combinations(range(p.num_ops), k):
            ordered = deps.in_order(ops)
            if isinstance(opt, FullGrain):
                fits = SubgraphView(p, ordered).shape_violation() is None
            else:
                fits = opt.best(ordered) is not None
            if fits:
                out.append(ordered)
    return out


def idle_retain(p: Problem, opset: set[int], t: int) -> bool:
    """Whether retaining ``t`` from the last step can only cost more.

    Only ops of the step read ``t`` and no MatMul reads it from a
    MatMul, so keeping it ephemeral changes no MatMul role; retained,
    it is loaded by its readers and adds an output plane (SPEC §3,
    §5.2, §6), and nothing after the step reads it.
    """
    readers = p.consumers[t]
    return (
        bool(readers)
        and opset.issuperset(readers)
        and not (
            p.is_matmul[p.producer[t]] and any(p.is_matmul[c] for c in readers)
        )
    )


def successors(
    p: Problem,
    opt: Optimizer,
    state: State,
    ops: tuple[int, ...],
    max_retain: int,
    edges: set[tuple[int, int]],
    rules: str,
    drop: bool = False,
    budget: float = float("inf"),
) -> list[tuple[float, State, Step]]:
    """Every step running ``ops`` from ``state``: cost, state, step.

    With ``drop`` a retained set may also be lost (held by a subgraph
    that does not read it, which ``strict_blocks.py`` needs), so the
    next step gets nothing retained. Left out: steps costing ``budget``
    or more, retained sets of ``capacity`` elements or more before
    another step, and at the last step sets with an idle tensor
    (:func:`idle_retain`)."""
    covered, slow, before, owed, met = state
    produced = {t: o for o in ops for t in p.outputs[o]}
    if not all(
        t in produced or t in slow or t in before
        for o in ops
        for t in p.inputs[o]
    ):
        return []
    consumed = {t for o in ops for t in p.inputs[o]}
    opset = set(ops)
    keep = [t for t in produced if t not in p.graph_outputs]
    if rules == "contest":
        keep += sorted(before - set(produced))
    last = len(covered | opset) == p.num_ops
    out = []
    for r in range(min(max_retain, len(keep)) + 1):
        for retain in map(frozenset, itertools.combinations(keep, r)):
            held = sum(p.sizes[t] for t in retain)
            # The next subgraph would hold all of it (SPEC §6).
            if held >= p.fast_memory_capacity and not last:
                continue
            if last and any(idle_retain(p, opset, t) for t in retain):
                continue
            choice = (
                opt.best(ops, before, retain, budget)
                if isinstance(opt, FullGrain)
                else opt.best(ops, before, retain)
            )
            if choice is None or choice.latency >= budget:
                continue
            hidden = {
                t
                for t in produced
                if t in consumed and t not in p.graph_outputs
            } - retain
            written = {t for t in produced if t not in hidden | retain}
            must = owed | {
                (produced[t], c)
                for t in hidden
                for c in p.consumers[t]
                if c not in opset
            }
            now_met = met | {e for e in edges if opset.issuperset(e)}
            nxt = (
                covered | opset,
                slow | written,
                retain,
                frozenset(must),
                frozenset(now_met),
            )
            step = Step(ops, choice.grain, choice.traversal, tuple(retain))
            out.append((choice.latency, nxt, step))
            if drop and retain and held < p.fast_memory_capacity:
                lost: State = (nxt[0], nxt[1], frozenset(), nxt[3], nxt[4])
                out.append((choice.latency, lost, step))
    return out


def shortest(
    p: Problem,
    max_ops: int,
    max_retain: int,
    rules: Rules = "strict",
    full: bool = False,
    drop: bool = False,
    upper: float = float("inf"),
) -> tuple[float, list[Step]]:
    """The cheapest schedule and its latency (sum of step latencies).

    With ``upper`` (the latency of a known schedule of ``p``) paths
    costing more are cut, and each step is costed only below what is
    left of it: the result is the same, found sooner.
    """
    opt: Optimizer = (
        FullGrain(p, rules)
        if full
        else GranularityOptimizer(p, rules, fine=True)
    )
    sets = op_sets(p, opt, max_ops)
    edges = {(p.producer[t], c) for t in p.producer for c in p.consumers[t]}
    inputs = frozenset(t for t in p.graph_inputs)
    start: State = (
        frozenset(),
        inputs,
        frozenset(),
        frozenset(),
        frozenset(),
    )
    dist = {start: 0.0}
    prev: dict[State, tuple[State, Step]] = {}
    heap = [(0.0, 0, start)]
    count = 0
    everything = frozenset(range(p.num_ops))
    limit = upper + max(1e-6, 1e-9 * upper)
    while heap:
        d, _, state = heapq.heappop(heap)
        if d > dist[state]:
            continue
        if state[0] == everything and state[3] <= state[4]:
            steps = []
            while state in prev:
                state, step = prev[state]
                steps.append(step)
            return d, steps[::-1]
        for ops in sets:
            for cost, nxt, step in successors(
                p, opt, state, ops, max_retain, edges, rules, drop, limit - d
            ):
                if d + cost < dist.get(nxt, float("inf")) - 1e-9:
                    dist[nxt] = d + cost
                    prev[nxt] = (state, step)
                    count += 1
                    heapq.heappush(heap, (d + cost, count, nxt))
    raise ValueError(
        "no valid schedule"
        + ("" if upper == float("inf") else f" at or below {upper:,.1f}")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("instance")
    parser.add_argument("--max-ops", type=int, default=None)
    parser.add_argument("--max-retain", type=int, default=2)
    parser.add_argument(
        "--rules", choices=("strict", "contest"), default="strict"
    )
    parser.add_argument(
        "--full-grain",
        action="store_true",
        help="every [w, h, k] and named traversal per subgraph",
    )
    args = parser.parse_args()
    p = load_problem(args.instance)
    began = time.perf_counter()
    total, steps = shortest(
        p,
        args.max_ops or p.num_ops,
        args.max_retain,
        args.rules,
        args.full_grain,
    )
    ev = evaluate(p, to_solution(p, steps), args.rules)
    print(
        f"{args.instance}: best over subgraphs of <= "
        f"{args.max_ops or p.num_ops} ops, <= {args.max_retain} retained"
        f"{', every granularity' if args.full_grain else ''}: "
        f"{total:.1f}; evaluated "
        f"{'valid' if ev.valid else ev.category} {ev.total_latency:.1f} "
        f"[{time.perf_counter() - began:.1f} s]"
    )
    for s in steps:
        print(f"  {s}")


if __name__ == "__main__":
    main()
