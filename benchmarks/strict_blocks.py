"""A strict lower bound by blocks: the graph cut where no subgraph can
cross, each block solved exhaustively, the optima summed.

Two ops can never share a strict subgraph when one makes a tensor the
other reads and :func:`mlsched.model.fusible.can_pass_inside` says no
subgraph can hold both (a Pointwise output read by a MatMul whose K is
beyond a native side, SPEC §4 item 7, §8 item 1). If that tensor is
also too large to be retained (W·H >= capacity: the next subgraph's
working set would hold all of it plus an output plane), it is written
by every appearance of its producer and read from slow memory; and
unless it is a graph output, no reader at all can share a subgraph with
its producer, since it would read the tensor there, hidden from the
first reader (SPEC §4 item 6). Join every other producer-reader pair,
and every two readers of one tensor;
the components are the *blocks*. A strict subgraph is connected (SPEC
§8 item 3) through pairs it holds, so it lies in one block, and what
passes between blocks is only slow memory.

Map any strict schedule to each block: keep that block's subgraphs in
order. Each is valid and costs no more in the block cut out as its
own problem (``head_optimum.cut``: tensors from other blocks become
graph inputs, tensors for them graph outputs), except that a tensor it
retained into another block's subgraph is lost there (SPEC §7): the
search allows that too (``drop``). So the sum over blocks of the
least latency of the cut-out problem, over every op set, order,
recomputation, retention (up to ``--max-retain`` tensors, 8: every
set when an op set makes at most 8 tensors) and every
``[w, h, k]`` (``full_grain.FullGrain``), is a lower bound on every strict
schedule. Tile orders: the search tries the named ones, and when no
MatMul of a block reads another's output and every K is above
k_native, every cell loads a new key whatever the order (every MatMul
is standalone with several k-steps; Pointwise keys name the tile), so
then the order cannot matter and the bound covers every schedule. The
script says which holds. Each block's search is cut at the latency of
a schedule the fine granularity optimizer finds for it, which changes
its time, not its result.

A block of more than ``--max-block`` ops is not searched: it adds the
proven lower bound of its cut-out problem (:func:`mlsched.lower_bound`)
instead. That bound holds for every strict schedule's subgraphs of the
block too, with any tile order. Its proof (docs/lower-bound.md) charges
each op's own working-set terms, which count a retained tensor only
when the op reads it, so the block's subgraphs, taken in order with
their states from the whole schedule (a tensor retained into another
block is unread there), meet every inequality it uses: tensors between
blocks are at least the capacity (or unread there) and are loaded and
evicted in both problems, and what is kept, ephemeral or fused inside a
block is the same. Each block then picks its own weight row (the
whole-graph bound has one for all blocks), so the sum can beat
:func:`mlsched.lower_bound` of the whole graph. Two sums are printed:
over the named tile orders (every searched block's optimum), and over
every schedule (a searched block whose order can matter adds its
proven lower bound instead).

    python benchmarks/strict_blocks.py mlsys-2026-6 [--max-block 9]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import mlsched
from mlsched import Problem
from mlsched.model.fusible import can_pass_inside

sys.path.insert(0, str(Path(__file__).parent))
from head_optimum import cut
from strict_exhaustive import shortest


def blocks(p: Problem) -> list[list[int]]:
    """The blocks of ``p`` in the strict profile (see above)."""
    root = list(range(p.num_ops))

    def find(o: int) -> int:
        while root[o] != o:
            root[o] = root[root[o]]
            o = root[o]
        return o

    def join(a: int, b: int) -> None:
        root[find(a)] = find(b)

    for t in range(len(p.widths)):
        readers = p.consumers[t]
        for a, b in itertools.pairwise(readers):
            join(a, b)
        if t not in p.producer:
            continue
        src = p.producer[t]
        held = p.sizes[t] < p.fast_memory_capacity
        inside = [can_pass_inside(p, "strict", src, c, t) for c in readers]
        # Read inside, t is hidden unless retained or a graph output; then
        # every reader must meet src somewhere (SPEC §4 item 6).
        hideable = held or t in p.graph_outputs or all(inside)
        for c, ok in zip(readers, inside):
            if held or (ok and hideable):
                join(src, c)
    groups: dict[int, list[int]] = {}
    for o in range(p.num_ops):
        groups.setdefault(find(o), []).append(o)
    return sorted(groups.values())


def order_free(p: Problem, ops: list[int]) -> bool:
    """Whether no tile order can change a subgraph of ``ops``."""
    mms = [o for o in ops if p.is_matmul[o]]
    made_by_mm = {t for o in mms for t in p.outputs[o]}
    return all(
        p.k_op[o] > p.k_native and not made_by_mm & set(p.inputs[o])
        for o in mms
    )


def signature(q: Problem) -> str:
    """The cut-out problem with tensors renumbered: equal for copies."""
    ids: dict[int, int] = {}
    for ts in (*q.inputs, *q.outputs):
        for t in ts:
            ids.setdefault(t, len(ids))
    return json.dumps(
        [
            q.op_types,
            q.base_costs,
            [[ids[t] for t in ts] for ts in q.inputs],
            [[ids[t] for t in ts] for ts in q.outputs],
            [(q.widths[t], q.heights[t]) for t in ids],
        ]
    )


def fine_upper(q: Problem) -> float:
    """The latency of a schedule of ``q`` at the fine optimizer's
    granularities (up to 2 retained), or inf if it finds none: the
    full search keeps only what costs no more, so it is the same
    search, cut sooner."""
    try:
        return shortest(q, q.num_ops, 2, "strict", False, True)[0]
    except ValueError:
        return float("inf")


def main() -> None:
    """Print the blocks, each block's optimum or bound, and the sums."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("instance")
    parser.add_argument("--max-block", type=int, default=9)
    parser.add_argument("--max-retain", type=int, default=8)
    args = parser.parse_args()
    p = mlsched.load_problem(args.instance)
    parts = blocks(p)
    print(
        f"{args.instance}: {len(parts)} blocks, "
        f"sizes {[len(b) for b in parts]}"
    )
    named = every = 0.0
    seen: dict[str, tuple[float, float]] = {}
    for ops in parts:
        q = cut(p, ops)
        key = signature(q)
        began = time.perf_counter()
        if key not in seen:
            seen[key] = _block(q, ops, p, args.max_block, args.max_retain)
        best, bound = seen[key]
        named += best
        every += bound
        how = "searched" if len(ops) <= args.max_block else "bound only"
        print(
            f"  ops {ops}: {best:,.1f} ({how}; over every order "
            f"{bound:,.1f}) [{time.perf_counter() - began:.1f} s]",
            flush=True,
        )
    print(f"lower bound over the named tile orders: {named:,.1f}")
    print(f"lower bound over every strict schedule: {every:,.1f}")


def _block(
    q: Problem, ops: list[int], p: Problem, max_block: int, max_retain: int
) -> tuple[float, float]:
    """A cut-out block's least latency over the named orders (its
    optimum if searched, else its proven lower bound) and a lower bound
    over every order."""
    if len(ops) > max_block:
        bound = mlsched.lower_bound(q, "strict")
        return bound, bound
    best = shortest(
        q, q.num_ops, max_retain, "strict", True, True, fine_upper(q)
    )[0]
    if order_free(p, ops):
        return best, best
    return best, mlsched.lower_bound(q, "strict")


if __name__ == "__main__":
    main()
