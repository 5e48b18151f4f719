"""Warm starts from the naive schedule on the 24 contest benchmarks.

For each benchmark: the one-op-per-subgraph schedule, CP-SAT without an
initial schedule, and CP-SAT with the naive schedule as
``initial_solution``, both seeded, on one worker, at a fraction of the
contest limit. The warm result must be no worse than the naive schedule
and no worse than the cold run; the script prints one row per benchmark
and exits 1 if any row breaks either.

    python benchmarks/warm_start.py --rules strict --time-scale 0.25
"""

from __future__ import annotations

import argparse
import sys

from mlsched import solve
from mlsched.bench import reference
from mlsched.model import benchmark_names

TOLERANCE = 1e-9


def main() -> int:
    """Run the comparison; 0 if every warm start holds."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rules", default="strict")
    parser.add_argument("--time-scale", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="solve reproducibly (budgets in counted work): cold and warm "
        "then differ only by the initial schedule, not by machine load",
    )
    parser.add_argument("instances", nargs="*")
    args = parser.parse_args()
    ref = reference()
    print(
        f"{args.rules} rules, {args.time_scale} x contest limits, 1 worker, "
        f"seed {args.seed}{', deterministic' if args.deterministic else ''}"
    )
    print(
        f"{'instance':<14} {'limit s':>7} {'naive':>13} {'cold':>13} "
        f"{'warm':>13} {'warm source':>12} {'ok':>3}"
    )
    broken = 0
    for name in args.instances or benchmark_names():
        limit = ref[name]["time_limit_s"] * args.time_scale
        common = {
            "rules": args.rules,
            "num_workers": 1,
            "seed": args.seed,
            "deterministic": args.deterministic,
        }
        naive = solve(name, method="naive", rules=args.rules)
        cold = solve(name, time_limit=limit, **common)
        warm = solve(
            name, time_limit=limit, initial_solution=naive.solution, **common
        )
        ok = warm.objective <= min(naive.objective, cold.objective) * (
            1 + TOLERANCE
        )
        broken += not ok
        print(
            f"{name:<14} {limit:>7.2f} {naive.objective:>13,.1f} "
            f"{cold.objective:>13,.1f} {warm.objective:>13,.1f} "
            f"{warm.source!s:>12} {'yes' if ok else 'NO':>3}",
            flush=True,
        )
    print(f"{broken} instance(s) where the warm start is worse")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
