"""When has every op been inside a large-neighbourhood window?

Issue 10 asks that on a 500-op graph every op is inside some window
within the first half of a 120 s budget. For each family this generates
a graph of about ``--ops`` ops (``mlsched.generate``, seed 1), solves it
with ``mlsched.solve`` for ``--time-limit`` seconds and prints: the ops,
the second by which every op had been in a window (the solve's note), the
wall time of the call and whether it ended within the limit plus 0.5 s,
the number of windows, and the gain over the list schedule.

    nice -n 5 python benchmarks/coverage.py [--ops 500] [--time-limit 120]
        [--rules strict] [--families transformer decoder llama]
        [--deterministic]

Exit code 1 if some graph was not covered within half the limit or a
call overran the limit by more than 0.5 s.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

import mlsched

#: The solve's note: "..., every op in a window by 21.6 s".
COVERED = re.compile(r"every op in a window by ([0-9.]+) s")
WINDOWS = re.compile(r"(\d+) windows, (\d+) improving")
#: Seconds a call may end after its limit.
OVERRUN = 0.5


def main() -> int:
    """Run the families and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=500)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--rules", default="strict")
    parser.add_argument(
        "--families", nargs="+", default=["transformer", "decoder", "llama"]
    )
    parser.add_argument("--deterministic", action="store_true")
    args = parser.parse_args()
    print(
        f"{'graph':<18}{'ops':>6}{'covered s':>11}{'wall s':>9}"
        f"{'in time':>9}{'windows':>9}{'gain':>9}"
    )
    ok = True
    for family in args.families:
        problem = mlsched.generate(family, ops=args.ops, seed=1)
        started = time.perf_counter()
        result = mlsched.solve(
            problem,
            rules=args.rules,
            time_limit=args.time_limit,
            deterministic=args.deterministic,
        )
        wall = time.perf_counter() - started
        covered = COVERED.search(result.message)
        windows = WINDOWS.search(result.message)
        at = float(covered.group(1)) if covered else None
        in_time = wall <= args.time_limit + OVERRUN
        ok &= in_time and at is not None and at <= args.time_limit / 2
        gain = 1 - result.objective / result.heuristic_objective
        print(
            f"{family + '-' + str(args.ops):<18}{problem.num_ops:>6}"
            f"{'never' if at is None else f'{at:.1f}':>11}{wall:>9.2f}"
            f"{'yes' if in_time else 'NO':>9}"
            f"{windows.group(1) if windows else '-':>9}{gain:>9.3%}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
