"""Run time of the proven lower bound on generated 1,000-op graphs.

    python benchmarks/bound_speed.py [--ops 1000]

One line per generator family and profile: ops, bound, seconds (one run,
CPU time of this process: on a shared machine wall time mostly measures
the other processes; still read the seconds as indicative).
"""

from __future__ import annotations

import argparse
import time

from mlsched import generate, lower_bound

FAMILIES = ("mlp", "ffn", "swiglu", "attention", "moe", "transformer", "llama")


def main() -> None:
    """Print the timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1000)
    args = parser.parse_args()
    print(f"{'family':<12}{'rules':<9}{'ops':>6}{'bound':>18}{'seconds':>9}")
    for family in FAMILIES:
        problem = generate(family, ops=args.ops)
        for rules in ("strict", "contest"):
            start = time.process_time()
            bound = lower_bound(problem, rules)
            seconds = time.process_time() - start
            print(
                f"{family:<12}{rules:<9}{problem.num_ops:>6}"
                f"{bound:>18,.1f}{seconds:>9.2f}"
            )


if __name__ == "__main__":
    main()
