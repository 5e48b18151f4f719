"""How the scheduler scales on generated llama-style stacks.

For decoder stacks of 100 to 10,000 ops (``mlsched.generate("llama",
ops=N)``), each size in a fresh process:

- **first schedule**: seconds from launching ``mlsched solve -o OUT`` to a
  complete OUT on disk (then SIGTERM; OUT is checked valid);
- **list scheduler**: seconds of ``ListScheduler.schedule()`` (all three
  fusion strategies, polish included), in process;
- **lower bound**: seconds of ``mlsched.lower_bound``;
- **peak RSS**: the measuring process's peak resident memory (list
  scheduler, bound and evaluation of its schedule);
- the naive and list-schedule latencies, and their ratio.

The fitted exponent is the least-squares slope of log(time) on log(ops)
over the sizes of 1,000 ops and more. With ``--plot FILE`` a log-log
plot is written (needs matplotlib).

Usage::

    python benchmarks/scaling.py [--sizes 100 300 1000 3000 10000]
                                 [--jitter 0] [--plot scaling.png]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SIZES = (100, 300, 1000, 3000, 10000)


def measure(ops: int, jitter: float) -> dict[str, Any]:
    """All numbers for one size (run in its own process)."""
    from mlsched import evaluate, generate, lower_bound
    from mlsched.heuristics import ListScheduler
    from mlsched.model.schedule import to_solution
    from mlsched.solve import solve

    problem = generate("llama", ops=ops, jitter=jitter)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "problem.json"
        path.write_text(json.dumps(problem.model_dump(mode="json")))
        first = first_schedule_seconds(path, problem)
    t0 = time.perf_counter()
    steps = ListScheduler(problem).schedule()
    t1 = time.perf_counter()
    lower_bound(problem, "strict")
    t2 = time.perf_counter()
    listed = evaluate(problem, to_solution(problem, steps))
    naive = solve(problem, method="naive")
    assert listed.valid
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "ops": problem.num_ops,
        "first": first,
        "list": t1 - t0,
        "bound": t2 - t1,
        "peak_mib": peak,
        "naive": naive.objective,
        "heuristic": listed.total_latency,
    }


def first_schedule_seconds(path: Path, problem: Any) -> float:
    """Seconds from launching ``mlsched solve`` to OUT on disk."""
    from mlsched import evaluate

    out = path.with_name("out.json")
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "mlsched", "solve", str(path)),
            *("-o", str(out), "--time-limit", "600", "--quiet"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while not out.exists() and proc.poll() is None:
        time.sleep(0.005)
    took = time.monotonic() - started
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert evaluate(problem, out).valid, "first schedule invalid"
    return took


def slope(rows: list[dict[str, Any]], key: str) -> float:
    """Least-squares slope of log(key) on log(ops), ops >= 1,000."""
    pts = [
        (math.log(r["ops"]), math.log(r[key]))
        for r in rows
        if r["ops"] >= 1000
    ]
    if len(pts) < 2:
        return math.nan
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    num = sum((x - mx) * (y - my) for x, y in pts)
    return num / sum((x - mx) ** 2 for x, _ in pts)


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table, with the fitted exponents."""
    head = (
        "| ops | first schedule s | list scheduler s | lower bound s "
        "| peak RSS MiB | naive | list schedule | naive / list |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['ops']:,} | {r['first']:.2f} | {r['list']:.2f} | "
            f"{r['bound']:.3f} | {r['peak_mib']:.0f} | {r['naive']:,.0f} "
            f"| {r['heuristic']:,.0f} | {r['naive'] / r['heuristic']:.3f} |"
        )
    lines.append("")
    lines.append(
        "fitted exponent, 1,000 ops and up: list scheduler "
        f"{slope(rows, 'list'):.2f}, first schedule "
        f"{slope(rows, 'first'):.2f}, lower bound {slope(rows, 'bound'):.2f}"
    )
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: str) -> None:
    """A log-log plot of the three times against the op count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ops = [r["ops"] for r in rows]
    for key, label in (
        ("list", "list scheduler"),
        ("first", "first schedule on disk"),
        ("bound", "lower bound"),
    ):
        ax.loglog(ops, [r[key] for r in rows], "o-", label=label)
    ax.set_xlabel("ops (llama-style stack)")
    ax.set_ylabel("seconds")
    ax.set_title(f"list scheduler exponent {slope(rows, 'list'):.2f}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    """Run every size in its own process and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    parser.add_argument("--jitter", type=float, default=0.0)
    parser.add_argument("--plot", metavar="FILE")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, args.jitter)))
        return
    rows = []
    for n in args.sizes:
        proc = subprocess.run(
            [
                *(sys.executable, __file__, "--one", str(n)),
                *("--jitter", str(args.jitter)),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(proc.stdout.splitlines()[-1]))
        print(f"{n}: {rows[-1]}", file=sys.stderr, flush=True)
    print(table(rows))
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
