"""Speed of the traffic bound here relative to another checkout.

    python benchmarks/bound_ratio.py OTHER_TREE [--runs 3] [--only NAME]

Times ``traffic_bound`` (both profiles, fresh problem objects) on three
workloads: ``random`` (tests/generators.py random problems, seeds
0..59), ``benchmarks`` (the 24 bundled ones) and ``llama1000`` (a
generated 1,000-op graph). Each run is a subprocess importing this
tree's package or OTHER_TREE's (e.g. ``git worktree add --detach``),
the two alternating so that both see the same machine load; the CPU
time of the best of ``--runs`` runs is kept, and the ratio is
OTHER_TREE's time over this tree's (above 1: this tree is faster).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from in_checkout import HERE, call_in

WORKLOADS = ("random", "benchmarks", "llama1000")


def _problems(workload: str) -> list[object]:
    """The problems of one workload, loaded afresh."""
    from mlsched import generate
    from mlsched.model import benchmark_names, load_problem

    if workload == "random":
        sys.path.insert(0, str(HERE / "tests"))
        from generators import random_problem

        return [
            load_problem(random_problem(random.Random(s))) for s in range(60)
        ]
    if workload == "benchmarks":
        return [load_problem(name) for name in benchmark_names()]
    return [generate("llama", ops=1000, seed=1)]


def seconds(workload: str) -> float:
    """CPU seconds of the traffic bounds of one workload."""
    from mlsched.model.traffic import traffic_bound

    problems = _problems(workload)
    start = time.process_time()
    for problem in problems:
        for rules in ("strict", "contest"):
            traffic_bound(problem, rules)  # type: ignore[arg-type]
    return time.process_time() - start


def main() -> None:
    """Print per workload both best times and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=WORKLOADS, action="append")
    args = parser.parse_args()
    other = args.other.resolve()
    print(f"{'workload':<12}{'other s':>9}{'this s':>9}{'ratio':>7}")
    for workload in args.only or WORKLOADS:
        old, new = [], []
        for _ in range(args.runs):
            old.append(call_in(other, "bound_ratio", "seconds", workload))
            new.append(call_in(HERE, "bound_ratio", "seconds", workload))
        print(
            f"{workload:<12}{min(old):>9.3f}{min(new):>9.3f}"
            f"{min(old) / min(new):>7.2f}"
        )


if __name__ == "__main__":
    main()
