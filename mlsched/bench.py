"""Benchmark runs over bundled instances, and their results table."""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mlsched.model import load_problem, write_json_atomic
from mlsched.model.bounds import meets, relative_gap

logger = logging.getLogger(__name__)


def reference() -> dict[str, dict[str, Any]]:
    """Per benchmark: limits, best published and baseline latencies."""
    ref = resources.files("mlsched") / "data" / "reference.json"
    data: dict[str, dict[str, Any]] = json.loads(ref.read_text())
    return data


@dataclass(frozen=True)
class Row:
    """One instance's benchmark result."""

    instance: str
    ops: int
    method: str
    rules: str
    naive: float
    heuristic: float
    latency: float
    bound: float | None
    best_published: float | None
    time_limit: float | None
    runtime: float
    status: str
    source: str | None
    lower_bound: float | None = None

    @property
    def proven_optimal(self) -> bool:
        """Whether ours meets the proven lower bound."""
        return meets(self.latency, self.lower_bound)

    @property
    def speedup(self) -> float:
        """Naive latency over ours."""
        return self.naive / self.latency

    @property
    def ratio(self) -> float | None:
        """Ours over the best published latency."""
        if not self.best_published:
            return None
        return self.latency / self.best_published

    @property
    def gap(self) -> float | None:
        """Relative gap of ours to the bound."""
        return relative_gap(self.latency, self.bound)


def run_one(
    instance: str,
    method: str,
    rules: str,
    time_limit: float | None,
    num_workers: int | None,
    seed: int,
    out_dir: str | None,
) -> Row:
    """Solve one instance with ``method`` and the two baselines."""
    from mlsched.solve import solve

    problem = load_problem(instance)
    naive = solve(problem, method="naive", rules=rules)
    heur = solve(problem, method="heuristic", rules=rules)
    if method == "heuristic":
        result = heur
    elif method == "naive":
        result = naive
    else:
        result = solve(
            problem,
            method=method,
            rules=rules,
            time_limit=time_limit,
            num_workers=num_workers,
            seed=seed,
        )
    if out_dir is not None and result.solution is not None:
        path = Path(out_dir) / f"{instance}.{method}.{rules}.json"
        write_json_atomic(path, result.solution.to_dict())
    ref = reference().get(instance, {})
    return Row(
        instance=instance,
        ops=problem.num_ops,
        method=method,
        rules=rules,
        naive=naive.objective,
        heuristic=heur.objective,
        latency=result.objective,
        bound=result.bound,
        best_published=ref.get("best_published"),
        time_limit=time_limit if method == "cpsat" else None,
        runtime=result.runtime,
        status=result.status.value,
        source=result.source,
        lower_bound=result.lower_bound,
    )


def run(
    instances: Sequence[str],
    method: str = "cpsat",
    rules: str = "strict",
    time_scale: float = 1.0,
    time_limit: float | None = None,
    jobs: int = 1,
    num_workers: int | None = None,
    seed: int = 0,
    out_dir: str | None = None,
    progress: Callable[[int, int, Row], None] | None = None,
) -> list[Row]:
    """Run ``method`` over ``instances``, ``jobs`` processes at a time.

    Each instance gets ``time_limit`` seconds if given, else its contest
    limit (SPEC §11) times ``time_scale``.
    """
    ref = reference()
    limits = {
        name: (
            time_limit
            if time_limit is not None
            else ref.get(name, {}).get("time_limit_s", 10) * time_scale
        )
        for name in instances
    }
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    args = [
        (name, method, rules, limits[name], num_workers, seed, out_dir)
        for name in instances
    ]
    rows: dict[str, Row] = {}
    if jobs <= 1:
        for i, a in enumerate(args):
            rows[a[0]] = run_one(*a)
            if progress:
                progress(i + 1, len(args), rows[a[0]])
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(run_one, *a): a[0] for a in args}
            for i, fut in enumerate(as_completed(futures)):
                rows[futures[fut]] = fut.result()
                if progress:
                    progress(i + 1, len(args), rows[futures[fut]])
    return [rows[name] for name in instances]


def geomean(values: Sequence[float]) -> float:
    """Geometric mean of positive values."""
    return math.exp(sum(math.log(v) for v in values) / len(values))


def table(rows: Sequence[Row]) -> str:
    """The results table with a geometric-mean row, as text."""
    head = (
        f"{'instance':<14} {'ops':>4} {'naive':>13} {'heuristic':>13} "
        f"{'ours':>13} {'bound':>13} {'gap':>6} {'speedup':>7} "
        f"{'best publ.':>12} {'ratio':>6} {'time s':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        bound = f"{r.bound:13.1f}" if r.bound is not None else f"{'-':>13}"
        gap = f"{r.gap:6.2%}" if r.gap is not None else f"{'-':>6}"
        best = (
            f"{r.best_published:12,.0f}" if r.best_published else f"{'-':>12}"
        )
        ratio = f"{r.ratio:6.3f}" if r.ratio is not None else f"{'-':>6}"
        lines.append(
            f"{r.instance:<14} {r.ops:>4} {r.naive:13.1f} "
            f"{r.heuristic:13.1f} {r.latency:13.1f} {bound} {gap} "
            f"{r.speedup:7.3f} {best} {ratio} {r.runtime:7.2f}"
        )
    lines.append("-" * len(head))
    ratios = [r.ratio for r in rows if r.ratio is not None]
    at_or_below = sum(
        1
        for r in rows
        if r.best_published and round(r.latency) <= r.best_published
    )
    better = sum(1 for r in rows if r.latency < r.heuristic * (1 - 1e-9))
    proven = sum(1 for r in rows if r.proven_optimal)
    lines.append(
        f"{'geomean':<14} {'':>4} {'':>13} {'':>13} {'':>13} {'':>13} "
        f"{'':>6} {geomean([r.speedup for r in rows]):7.3f} {'':>12} "
        + (f"{geomean(ratios):6.3f}" if ratios else f"{'-':>6}")
    )
    lines.append(
        f"{len(rows)} instances; at or below best published (rounded): "
        f"{at_or_below}; strictly better than the heuristic: {better}; "
        f"proven optimal (at the lower bound): {proven}"
    )
    return "\n".join(lines)


def save(rows: Sequence[Row], out_dir: str) -> None:
    """Write ``results.csv`` and ``results.json`` to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = [
        {
            **asdict(r),
            "speedup": r.speedup,
            "ratio": r.ratio,
            "gap": r.gap,
            "proven_optimal": r.proven_optimal,
        }
        for r in rows
    ]
    write_json_atomic(out / "results.json", records)
    tmp = out / ".results.csv.tmp"
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    os.replace(tmp, out / "results.csv")


def plan_workers(jobs: int, workers: int | None) -> tuple[int, int]:
    """(jobs, workers per solve) so that jobs x workers fits the cores."""
    cores = os.cpu_count() or 1
    jobs = max(1, min(jobs, cores))
    per = workers if workers is not None else max(1, cores // jobs)
    if jobs * per > cores:
        per = max(1, cores // jobs)
        print(
            f"mlsched: warning: {jobs} jobs x {workers} workers exceeds "
            f"{cores} cores; using {per} worker(s) per solve",
            file=sys.stderr,
        )
    return jobs, per


def timestamp() -> str:
    """Local time, for result headers."""
    return time.strftime("%Y-%m-%d %H:%M")
