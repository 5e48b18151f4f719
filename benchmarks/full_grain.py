"""Every granularity of a subgraph: the exact best ``[w, h, k]`` and named
traversal, by brute force, to check what the granularity optimizer misses.

``FullGrain.best`` costs every tile width ``w <= min(w_native, W)``,
every height ``h <= min(h_native, H)`` and every ``k`` the profile
allows, each in every named traversal (raster, row snake, column-major,
column snake) where the order can matter. It prunes only by bounds that
cannot drop the optimum: tile shapes by increasing tile count, stopping
when ``tiles x compute per tile`` reaches the best found (every tile pays
every op's base cost, SPEC §5.1), per shape, ``k`` above the largest
that fits (the working set grows with ``k``, SPEC §6), and shapes whose
transfer time at a single k-step reaches it (:meth:`FullGrain.floor`).
So it is exact over all granularities and the four named orders, not
over arbitrary permutations of tiles.

``python benchmarks/full_grain.py NAME SCHEDULE.json`` re-tunes every
subgraph of a schedule in its retention context and prints the ones that
improve (and the evaluated total of the re-tuned schedule).
"""

from __future__ import annotations

import argparse
import json
import time

from mlsched import Problem, evaluate, load_problem
from mlsched.heuristics.granularity import Choice, fitting_k
from mlsched.model import (
    TRAVERSALS,
    Grain,
    Solution,
    SubgraphView,
    subgraph_violation,
    view_cost,
)
from mlsched.model.cost import traversal_matters
from mlsched.model.schedule import Step, from_solution, to_solution
from mlsched.model.subgraph import shape_signature
from mlsched.model.types import Rules


class FullGrain:
    """The exact best granularity and named traversal of a subgraph.

    Same interface as ``GranularityOptimizer.best`` (without
    ``around``), memoised by shape signature.
    """

    def __init__(self, problem: Problem, rules: Rules = "strict") -> None:
        self.problem = problem
        self.rules = rules
        self._by_shape: dict[object, tuple[Choice | None, float]] = {}
        self.costed = 0

    def best(
        self,
        ops: tuple[int, ...],
        retain_in: frozenset[int] = frozenset(),
        retain_out: frozenset[int] = frozenset(),
        bound: float = float("inf"),
    ) -> Choice | None:
        """The cheapest valid choice below ``bound``, or None.

        Memoised per shape signature: a choice found is the optimum at
        every bound above its latency; None is known only up to the
        bound it was searched with, so a higher bound searches again.
        """
        key = shape_signature(
            self.problem, tuple(ops), retain_in, frozenset(retain_out)
        )
        known = self._by_shape.get(key)
        if known is not None:
            found, searched = known
            if found is not None:
                return found if found.latency < bound - 1e-9 else None
            if bound <= searched:
                return None
        view = SubgraphView(self.problem, ops, retain_out, retain_in)
        found = self._search(view, bound)
        self._by_shape[key] = (found, bound)
        return found

    def _k_cap(self, view: SubgraphView) -> int:
        p = self.problem
        if not view.matmuls:
            return 1
        if self.rules == "strict":
            return min(p.k_native, *(p.k_op[m] for m in view.matmuls))
        return max(view.k_slicing, 1)

    def _search(self, view: SubgraphView, bound: float) -> Choice | None:
        p = self.problem
        if view.shape_violation() is not None:
            return None
        width, height = view.grid_shape
        per_tile = sum(p.base_costs[o] for o in view.ops)
        shapes = sorted(
            (
                (-(-width // w) * -(-height // h), w, h)
                for w in range(1, min(p.native_granularity[0], width) + 1)
                for h in range(1, min(p.native_granularity[1], height) + 1)
            ),
            key=lambda s: (s[0], -s[1] * s[2]),
        )
        k_cap = self._k_cap(view)
        best: Choice | None = None
        limit = bound
        for tiles, w, h in shapes:
            if tiles * per_tile >= limit:
                break
            if self.floor(view, w, h) >= limit:
                continue
            for k in self._fitting(view, w, h, k_cap):
                choice = self._cost(view, Grain(w, h, k))
                if choice is not None and choice.latency < limit - 1e-9:
                    best, limit = choice, choice.latency
        return best

    def floor(self, view: SubgraphView, w: int, h: int) -> float:
        """A lower bound on the latency of every ``[w, h, k]`` in every
        named traversal: the cheapest named traversal's transfer time at
        one k-step.

        A cell costs at least its transfer time (SPEC §5), so a
        subgraph at least the sum of them. Stores and the loads keyed
        without a k-step are the same at every ``k`` (§5.2). A use
        keyed by k-step is loaded at most once per tile at one k-step;
        at several, when no other use reads its tensor, its last key
        is its own at the previous k-step, so it is loaded at every
        cell, its sizes summing to at least the one-step size. When two
        uses share a tensor, 0 (no floor). Compute is not part of it:
        with head and tail MatMuls it changes with the number of
        k-steps.
        """
        tensors = [u.tensor for u in view.uses]
        if len(set(tensors)) < len(tensors):
            return 0.0
        grain = Grain(w, h, max(view.k_slicing, 1))
        return min(
            view_cost(view, grain, n).memory_time for n in _orders(view, grain)
        )

    def _fitting(
        self, view: SubgraphView, w: int, h: int, k_cap: int
    ) -> range:
        """Every k from 1 up to the largest whose working set fits."""
        capacity = self.problem.fast_memory_capacity
        if view.working_set(Grain(w, h, 1)) > capacity:
            return range(0)
        return range(1, fitting_k(view, w, h, 1, k_cap, capacity) + 1)

    def _cost(self, view: SubgraphView, grain: Grain) -> Choice | None:
        if subgraph_violation(view, grain, self.rules) is not None:
            return None
        out = None
        for name in _orders(view, grain):
            self.costed += 1
            cost = view_cost(view, grain, name)
            if out is None or cost.latency < out.latency:
                out = Choice(grain, name, cost)
        return out


def _orders(view: SubgraphView, grain: Grain) -> tuple[str, ...]:
    """The named traversals worth costing: raster alone where no order
    can change the cost."""
    if traversal_matters(view, grain):
        return TRAVERSALS
    return TRAVERSALS[:1]


def retune(problem: Problem, steps: list[Step], rules: Rules) -> list[Step]:
    """Each step at its exact best granularity in its retention context."""
    full = FullGrain(problem, rules)
    before: frozenset[int] = frozenset()
    out = []
    for step in steps:
        view = SubgraphView(problem, step.ops, step.retain, before)
        now = view_cost(view, step.grain, step.traversal).latency
        choice = full.best(step.ops, before, frozenset(step.retain), now)
        if choice is not None and choice.latency < now - 1e-6:
            print(
                f"  {step.ops}: {step.grain.as_list()} {step.traversal} "
                f"{now:.1f} -> {choice.grain.as_list()} "
                f"{choice.traversal} {choice.latency:.1f}"
            )
            step = Step(step.ops, choice.grain, choice.traversal, step.retain)
        out.append(step)
        before = frozenset(step.retain)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("instance")
    parser.add_argument("schedule")
    parser.add_argument("--rules", default="strict")
    args = parser.parse_args()
    p = load_problem(args.instance)
    with open(args.schedule) as f:
        sol = Solution.model_validate(json.load(f))
    steps = from_solution(p, sol)
    if steps is None:
        raise SystemExit("schedule has orders that are not named traversals")
    began = time.perf_counter()
    tuned = retune(p, steps, args.rules)
    old = evaluate(p, sol, args.rules).total_latency
    ev = evaluate(p, to_solution(p, tuned), args.rules)
    print(
        f"{args.instance}: {old:.1f} -> "
        f"{'valid' if ev.valid else ev.category} {ev.total_latency:.1f} "
        f"[{time.perf_counter() - began:.1f} s]"
    )


if __name__ == "__main__":
    main()
