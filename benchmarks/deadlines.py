"""Whether ``mlsched solve --time-limit S`` keeps its deadline at scale.

For generated llama-style stacks of about 1,000, 3,000 and 10,000 ops and
limits of 2, 10 and 60 s, each run is a fresh ``mlsched solve P -o OUT
--time-limit S`` process. The table gives the wall time from launch to
exit, whether it stayed within S + 0.5 s, whether OUT is valid (strict),
and its latency against the one-op-per-subgraph schedule.

Usage::

    python benchmarks/deadlines.py [--sizes 1000 3000 10000]
                                   [--limits 2 10 60]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlsched

SLACK = 0.5


def _run(problem: Path, out: Path, limit: float) -> float:
    """Wall seconds of one ``mlsched solve`` process."""
    started = time.monotonic()
    subprocess.run(
        [
            *(sys.executable, "-m", "mlsched", "solve", str(problem)),
            *("-o", str(out), "--time-limit", str(limit), "-q"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000])
    parser.add_argument("--limits", type=float, nargs="+", default=[2, 10])
    args = parser.parse_args()
    print("| ops | limit s | wall s | within S+0.5 | valid | ours / naive |")
    print("|---:|---:|---:|---|---|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            problem = Path(tmp) / f"llama-{size}.json"
            graph = mlsched.generate("llama", ops=size)
            problem.write_text(json.dumps(graph.model_dump()))
            naive = mlsched.solve(graph, method="naive").objective
            for limit in args.limits:
                out = Path(tmp) / "out.json"
                out.unlink(missing_ok=True)
                wall = _run(problem, out, limit)
                ev = mlsched.evaluate(graph, out) if out.exists() else None
                valid = ev is not None and ev.valid
                ratio = ev.total_latency / naive if ev and valid else None
                print(
                    f"| {graph.num_ops} | {limit:g} | {wall:.2f} "
                    f"| {'yes' if wall <= limit + SLACK else 'NO'} "
                    f"| {'yes' if valid else 'NO'} "
                    f"| {'-' if ratio is None else f'{ratio:.3f}'} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
