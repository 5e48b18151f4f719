"""The recomputation pass alone, from the list schedule.

For each problem file: the list scheduler's schedule, then
:class:`mlsched.solver.recompute.Recomputer` run from it until a round of
every family of moves finds nothing (or ``--limit`` seconds), with the
fine granularity optimizer a solve uses. Prints the list latency, the
latency after the pass, the gain and the seconds the pass took: what a
solve's first pass can reach, and how soon.

Usage::

    python benchmarks/recompute_alone.py FILE [FILE ...]
                                         [--rules contest|strict]
                                         [--limit S]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mlsched import clock, load_problem
from mlsched.heuristics import GranularityOptimizer
from mlsched.heuristics.start import list_start
from mlsched.solver.recompute import Recomputer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--rules", choices=("contest", "strict"))
    parser.add_argument("--limit", type=float, default=1e9)
    parser.set_defaults(rules="contest")
    args = parser.parse_args()
    print(f"{'instance':20} {'list':>14} {'pass':>14} {'gain':>8} {'s':>6}")
    for path in args.files:
        problem = load_problem(path)
        begin = list_start(problem, args.rules)
        fine = GranularityOptimizer(problem, args.rules, fine=True)
        started = time.perf_counter()
        found = Recomputer(problem, args.rules, fine).improve(
            begin.steps, begin.objective, clock.now() + args.limit
        )
        seconds = time.perf_counter() - started
        latency = found.objective if found is not None else begin.objective
        gain = 100 * (1 - latency / begin.objective)
        print(
            f"{path.stem:20} {begin.objective:14,.1f} {latency:14,.1f} "
            f"{gain:7.3f}% {seconds:6.1f}"
        )


if __name__ == "__main__":
    main()
