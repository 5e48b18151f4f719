"""Time the default test run of this checkout against another one.

Runs ``python -m pytest -q`` (the README's test command, with the
project's default options) in this checkout and in ``OLD`` (a work tree
of an earlier commit, e.g. made with ``git worktree add --detach ../old
main``), alternating which goes first in each round, each with its own
package on ``PYTHONPATH``. Prints per run the wall time, the user CPU
time of pytest and its workers, and pytest's last line; then the median
of each side and their ratio. Interleaving keeps a shared machine's
load changes out of the ratio as far as one can.

Usage::

    python benchmarks/suite_time.py OLD [--rounds N]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from in_checkout import HERE, env_for


class Run(NamedTuple):
    """One test run: its wall and user CPU seconds, and pytest's summary."""

    wall: float
    user: float
    summary: str


def run_suite(tree: Path) -> Run:
    """Run the default test command in ``tree``, importing its package."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q"],
        cwd=tree,
        env=env_for(tree),
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    user = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before
    lines = done.stdout.strip().splitlines()
    return Run(wall, user, lines[-1] if lines else done.stderr.strip())


def main() -> None:
    """Parse the arguments, run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="the other checkout")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    trees = {"old": args.old.resolve(), "new": HERE}
    runs: dict[str, list[Run]] = {"old": [], "new": []}
    for r in range(args.rounds):
        order = ("old", "new") if r % 2 == 0 else ("new", "old")
        for side in order:
            run = run_suite(trees[side])
            runs[side].append(run)
            print(
                f"{side}  {run.wall:6.1f} s wall  {run.user:6.1f} s user"
                f"  {run.summary}",
                flush=True,
            )
    old = statistics.median(r.wall for r in runs["old"])
    new = statistics.median(r.wall for r in runs["new"])
    print(
        f"median wall: old {old:.1f} s, new {new:.1f} s,"
        f" new/old {new / old:.3f}"
    )


if __name__ == "__main__":
    main()
