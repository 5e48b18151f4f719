"""The grid floor: a compute bound that counts each op's tiles on the
smallest grid the data flow lets it run on.

A subgraph's compute is its tile count times the base costs of its ops
(SPEC §5.1: a Pointwise op pays its base cost per tile; a MatMul's
k-step shares add up to one base cost per tile), and its grid is the
shape of its outputs (§3, §4 rule 8), so at least the native tile count
of that shape. An op whose output stays hidden runs on the grid of a
descendant, possibly smaller than its own (contest benchmark 9 runs
4096-wide MatMuls on 1024-wide grids). How small is bounded by the
data flow:

    every op o is computed at least once on a grid of at least
    B(o) = max over paths o -> ... -> graph output of the smallest
           native tile count of a tensor on the path.

Proof, along one path v0 -> t0 -> v1 -> ... -> vk -> tk (a graph
output). tk is an output of the subgraph S that computes vk (a graph
output is never ephemeral), so vk runs on a grid of shape tk. Given
that v(i+1) runs in a subgraph S on a grid at least the smallest count
of t(i+1)..tk, its input t(i) is made earlier in S (then v(i) runs on
S's grid as well), retained into S or read from slow memory. In the
last two cases t(i) was an output (retained or evicted) of the
subgraph that made it, whose grid then has the shape of t(i). Either
way v(i) runs once on a grid of at least the smallest count of
t(i)..tk. The third case needs the data flow: a tensor read from slow
memory was written there. The contest evaluator does not check that,
so this floor holds over the schedules that keep the data flow (all of
mlsched's), not over every contest-valid one.

Every cell costs at least its compute, so the latency of such a
schedule is at least the sum over ops of base cost x B(o). Where a
schedule meets it, no schedule that keeps the data flow does better.

Usage::

    python benchmarks/grid_floor.py [--results results.csv]

``--results`` adds the ``latency`` column of an ``mlsched benchmark``
CSV and marks the instances that meet the floor.
"""

from __future__ import annotations

import argparse
import csv
import functools

from mlsched import Problem, load_problem
from mlsched.bench import reference
from mlsched.model.chains import native_tiles


def grid_floor(p: Problem) -> float:
    """The sum over ops of base cost x the largest, over paths to a
    graph output, of the smallest native tile count on the path."""

    @functools.cache
    def along(t: int) -> int:
        readers = p.consumers[t]
        if not readers:
            return native_tiles(p, t)
        return min(native_tiles(p, t), max(grid(c) for c in readers))

    @functools.cache
    def grid(o: int) -> int:
        return max(along(t) for t in p.outputs[o])

    # Producers after consumers: no recursion deeper than one op.
    for o in reversed(range(p.num_ops)):
        grid(o)
    return float(sum(p.base_costs[o] * grid(o) for o in range(p.num_ops)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", help="an mlsched benchmark CSV")
    args = parser.parse_args()
    ours: dict[str, float] = {}
    if args.results:
        with open(args.results) as f:
            for row in csv.DictReader(f):
                if row.get("latency"):
                    ours[row["instance"]] = float(row["latency"])
    print(
        f"{'instance':<15}{'compute floor':>15}{'grid floor':>15}"
        f"{'best publ.':>13}{'ours':>15}  meets"
    )
    refs = reference()
    for n in range(1, 25):
        name = f"mlsys-2026-{n}"
        p = load_problem(name)
        floor = grid_floor(p)
        ref = refs[name]
        mine = ours.get(name)
        meets = "" if mine is None else str(mine <= floor * (1 + 1e-9))
        print(
            f"{name:<15}{ref['compute_floor']:>15,.0f}{floor:>15,.0f}"
            f"{ref['best_published']:>13,.0f}"
            f"{'' if mine is None else f'{mine:,.1f}':>15}  {meets}"
        )


if __name__ == "__main__":
    main()
