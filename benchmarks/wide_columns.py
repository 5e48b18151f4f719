"""Is the list schedule optimal over a much wider column set?

The solver grows regions with a beam and keeps only regions that save on
their single ops, and tries at most one retained tensor in and out. This
script drops those limits on the small benchmarks: every closed, convex,
connected region of up to ``--max-ops`` ops that obeys the rules (no beam,
profitable or not), every single retained tensor in and out, and every
pair of them, all refined among fine tile sizes. CP-SAT then solves the
column model to optimality (or the time limit), warm-started with the
list schedule, and the table compares the list schedule, the optimum over
the wide columns and the solver's own result at its contest time limit.

Usage::

    python benchmarks/wide_columns.py [INSTANCES...] [--rules strict]
                                      [--max-ops 8] [--time-limit 120]
"""

from __future__ import annotations

import argparse
import itertools
import math
import time

from ortools.sat.python import cp_model

from mlsched import evaluate, load_problem, solve
from mlsched.bench import reference
from mlsched.heuristics import GranularityOptimizer, ListScheduler
from mlsched.model.schedule import to_solution
from mlsched.solver import ColumnModel
from mlsched.solver.columns import (
    Column,
    ColumnGenerator,
    refine,
    schedule_columns,
)

SMALL = [f"mlsys-2026-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 11)]


class WideGenerator(ColumnGenerator):
    """Keeps every valid region, whatever it saves."""

    def _saving(
        self, region: frozenset[int], single: dict[int, float]
    ) -> float | None:
        saving = super()._saving(region, single)
        # A positive rank for every valid region, so all are kept.
        return None if saving is None else abs(saving) + 1e-9


def pair_contexts(gen: ColumnGenerator, columns: list[Column]) -> None:
    """Add each region's pairs of retained tensors in and out."""
    out = {(c.ops, c.retain_in, c.retain_out): c for c in columns}
    ins: dict[tuple[int, ...], set[int]] = {}
    outs: dict[tuple[int, ...], set[int]] = {}
    for c in columns:
        ins.setdefault(c.ops, set()).update(c.retain_in)
        outs.setdefault(c.ops, set()).update(c.retain_out)
    for ops in ins:
        sides = []
        for side in (ins[ops], outs[ops]):
            sides.append(
                [frozenset[int]()]
                + [
                    frozenset(pair)
                    for n in (1, 2)
                    for pair in itertools.combinations(sorted(side), n)
                ]
            )
        for pin, rout in itertools.product(*sides):
            if len(pin) == 2 or len(rout) == 2:
                gen._add(out, ops, pin, rout)
    columns[:] = out.values()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("instances", nargs="*", default=SMALL)
    parser.add_argument("--rules", default="strict")
    parser.add_argument("--max-ops", type=int, default=8)
    parser.add_argument("--time-limit", type=float, default=120.0)
    args = parser.parse_args()
    print(
        f"{'instance':<14} {'columns':>8} {'heuristic':>13} "
        f"{'wide optimum':>13} {'wide bound':>13} {'status':>8} "
        f"{'solver':>13}"
    )
    for name in args.instances:
        p = load_problem(name)
        optimizer = GranularityOptimizer(p, args.rules)
        steps = ListScheduler(p, args.rules, optimizer).schedule()
        heuristic = evaluate(p, to_solution(p, steps), args.rules)
        gen = WideGenerator(
            p,
            optimizer,
            max_ops=args.max_ops,
            beam=10**9,
            contexts=10**9,
            max_columns=10**9,
        )
        regions = gen.regions([s.ops for s in steps])
        columns = gen.columns(regions, schedule_columns(p, steps))
        pair_contexts(gen, columns)
        fine = GranularityOptimizer(p, args.rules, fine=True)
        columns = refine(columns, fine)
        cm = ColumnModel(p, columns)
        cm.hint(steps)
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = args.time_limit
        solver.parameters.num_workers = 2
        started = time.perf_counter()
        status = solver.solve(cm.model)
        wide = evaluate(p, to_solution(p, cm.decode(solver.value)), args.rules)
        limit = reference()[name]["time_limit_s"]
        ours = solve(p, rules=args.rules, time_limit=limit)
        print(
            f"{name:<14} {len(columns):>8} {heuristic.total_latency:13.1f} "
            f"{wide.total_latency:13.1f} "
            f"{solver.best_objective_bound / cm.scale:13.1f} "
            f"{solver.status_name(status):>8} {ours.objective:13.1f}"
            + (
                ""
                if math.isclose(
                    wide.total_latency, ours.objective, rel_tol=1e-9
                )
                else "  (differs)"
            ),
            f"  [{time.perf_counter() - started:.1f} s]",
        )


if __name__ == "__main__":
    main()
