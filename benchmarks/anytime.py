"""Anytime check: does more time ever give a worse schedule?

Runs CP-SAT on benchmarks 1-16 in both profiles at 0.25x, 1x and 4x the
contest limits (``mlsched benchmark --time-scale`` for each scale, through
:func:`mlsched.bench.run`) and prints, per profile, one row per benchmark:
the latency at each scale, whether it got worse with more time (any
larger scale above a smaller one), and the count of benchmarks where the
largest scale beats the 1x one.

    python benchmarks/anytime.py --jobs 2
    python benchmarks/anytime.py --profiles strict --instances 1-12

A full run is about 36 min of 2-core time; the exit code is 1 if latency
got worse with more time anywhere.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mlsched import bench

#: A latency counts as worse when above the earlier one by this factor.
TOLERANCE = 1e-9


def instance_names(spec: str) -> list[str]:
    """Bundled names for ``spec``: ``1-16`` or ``1,5,9-12``."""
    numbers: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        numbers.extend(range(int(lo), int(hi or lo) + 1))
    return [f"mlsys-2026-{n}" for n in numbers]


def latencies(
    names: Sequence[str],
    rules: str,
    scales: Sequence[float],
    jobs: int,
    deterministic: bool,
) -> dict[str, list[float | None]]:
    """Each instance's latency at each scale (None: no result)."""
    out: dict[str, list[float | None]] = {n: [] for n in names}
    workers = 1 if deterministic else None
    jobs, workers = bench.plan_workers(jobs, workers)
    for scale in scales:
        rows = bench.run(
            bench.resolve(names),
            rules=rules,
            time_scale=scale,
            jobs=jobs,
            num_workers=workers,
            deterministic=deterministic,
        )
        for row in rows:
            latency = row.latency if isinstance(row, bench.Row) else None
            out[row.instance].append(latency)
        print(f"  {rules} x{scale:g} done", file=sys.stderr, flush=True)
    return out


def got_worse(values: Sequence[float | None]) -> bool:
    """Whether a later (longer) run is worse than an earlier one."""
    best = float("inf")
    for v in values:
        if v is None:
            continue
        if v > best * (1 + TOLERANCE):
            return True
        best = min(best, v)
    return False


def table(
    rules: str, scales: Sequence[float], lat: dict[str, list[float | None]]
) -> tuple[str, int, int]:
    """The profile's table, how many rows got worse, and how many have
    the largest scale beat the 1x one."""
    head = " ".join(f"{'x' + format(s, 'g'):>14}" for s in scales)
    lines = [f"{rules}", f"{'instance':<14} {head} {'worse':>6}"]
    one = scales.index(1.0) if 1.0 in scales[:-1] else None
    worse = beats = 0
    for name, values in lat.items():
        cells = " ".join(
            f"{'-' if v is None else format(v, ',.1f'):>14}" for v in values
        )
        bad = got_worse(values)
        worse += bad
        last, base = values[-1], None if one is None else values[one]
        if last is not None and base is not None:
            beats += last < base * (1 - TOLERANCE)
        lines.append(f"{name:<14} {cells} {'YES' if bad else 'no':>6}")
    top = format(scales[-1], "g")
    lines.append(
        f"{worse} got worse with more time; x{top} beats x1 on {beats}"
        if one is not None
        else f"{worse} got worse with more time"
    )
    return "\n".join(lines), worse, beats


def main() -> int:
    """Run the check; 0 if no latency got worse with more time."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--profiles", default="strict,contest", help="comma-separated"
    )
    parser.add_argument(
        "--scales", default="0.25,1,4", help="time scales, ascending"
    )
    parser.add_argument(
        "--instances", default="1-16", help="benchmark numbers, e.g. 1-12"
    )
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="solve reproducibly (one worker, budgets in counted work)",
    )
    args = parser.parse_args()
    scales = sorted(float(s) for s in args.scales.split(","))
    names = instance_names(args.instances)
    mode = ", deterministic" if args.deterministic else ""
    print(
        f"anytime: {args.instances} at {', '.join(f'x{s:g}' for s in scales)}"
        f" the contest limits, {args.jobs} job(s){mode}, {bench.timestamp()}"
    )
    total = 0
    for rules in args.profiles.split(","):
        lat = latencies(names, rules, scales, args.jobs, args.deterministic)
        text, worse, _ = table(rules, scales, lat)
        total += worse
        print(text, flush=True)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
