"""How much can the attention of a generated graph gain in the strict
profile? The best schedule of one attention group, cut out of the graph.

An attention group is a K projection and a V projection with every head
that reads them: per head a Q projection, Q.K^T, softmax, P.V and the
output projection (one head per group in the transformer and decoder
families, four in llama's grouped-query attention). This script cuts the
first group out of a generated graph (``mlsched.generate FAMILY --ops N
--seed 1``): the tensors it reads from other ops become graph inputs and
the ones it writes for them graph outputs. It prints the list
scheduler's latency on the cut-out problem and, for groups of up to
``--exhaustive`` ops, the best strict schedule over every op set, order,
retention (up to two tensors) and recomputation by
``strict_exhaustive.py``'s shortest path; for larger groups the best
found by ``mlsched.solve`` in ``--time-limit`` seconds.

    python benchmarks/head_optimum.py [--ops 300] [--time-limit 60]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import mlsched
from mlsched import Problem, evaluate
from mlsched.heuristics.start import list_start
from mlsched.model.schedule import to_solution

sys.path.insert(0, str(Path(__file__).parent))
from strict_exhaustive import shortest


def first_group(p: Problem) -> list[int]:
    """The ops of the first attention group of ``p`` (see above)."""
    matmuls = [o for o, kind in enumerate(p.op_types) if kind == "MatMul"]
    made_by_mm = {t for o in matmuls for t in p.outputs[o]}
    scores = [o for o in matmuls if all(t in made_by_mm for t in p.inputs[o])]
    key = p.inputs[scores[0]][1]
    group = {p.producer[key]}
    for qk in (o for o in scores if p.inputs[o][1] == key):
        lhs = p.inputs[qk][0]
        softmax = p.consumers[p.outputs[qk][0]][0]
        pv = p.consumers[p.outputs[softmax][0]][0]
        proj = p.consumers[p.outputs[pv][0]][0]
        value = p.inputs[pv][1]
        group |= {p.producer[lhs], qk, softmax, pv, proj, p.producer[value]}
    return sorted(group)


def cut(p: Problem, ops: list[int]) -> Problem:
    """The problem of ``ops`` alone (tensor ids kept; a tensor no kept op
    uses is ignored)."""
    raw = p.model_dump()
    for field in ("inputs", "outputs", "base_costs", "op_types"):
        raw[field] = [raw[field][o] for o in ops]
    return mlsched.load_problem(raw)


def main() -> None:
    """One line per family."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--exhaustive", type=int, default=8)
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args()
    print(f"{'graph':<18}{'group ops':>10}{'list':>12}{'best':>12}  how")
    for family in ("transformer", "decoder", "llama"):
        full = mlsched.generate(family, ops=args.ops, seed=1)
        p = cut(full, first_group(full))
        heuristic = list_start(p, "strict").objective
        began = time.perf_counter()
        if p.num_ops <= args.exhaustive:
            best, steps = shortest(p, p.num_ops, 2)
            ev = evaluate(p, to_solution(p, steps), "strict")
            assert ev.valid, ev.message
            how = "exhaustive (optimal)"
        else:
            best = mlsched.solve(p, time_limit=args.time_limit).objective
            how = f"mlsched.solve {args.time_limit:.0f} s (best found)"
        print(
            f"{family + '-' + str(args.ops):<18}{p.num_ops:>10}"
            f"{heuristic:>12,.1f}{best:>12,.1f}  {how} "
            f"[{time.perf_counter() - began:.1f} s]"
        )


if __name__ == "__main__":
    main()
