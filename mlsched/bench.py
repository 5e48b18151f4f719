"""Benchmark runs over bundled instances and files, and their table."""

from __future__ import annotations

import csv
import glob
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from importlib import resources
from itertools import chain
from pathlib import Path
from typing import Any, NamedTuple

from mlsched.executors import Executor, LocalExecutor
from mlsched.model import (
    InputError,
    Problem,
    bundled_instances,
    load_problem,
    write_json_atomic,
)
from mlsched.model.bounds import meets, relative_gap
from mlsched.model.io import natural_key
from mlsched.model.types import Method, Rules, improves

logger = logging.getLogger(__name__)

#: Seconds per instance without a contest limit or ``--time-limit``.
DEFAULT_TIME_LIMIT = 10.0
_GLOB_CHARS = frozenset("*?[")


def reference() -> dict[str, dict[str, Any]]:
    """Per benchmark: limits, best published and baseline latencies."""
    ref = resources.files("mlsched") / "data" / "reference.json"
    data: dict[str, dict[str, Any]] = json.loads(ref.read_text())
    return data


@dataclass(frozen=True)
class Instance:
    """A batch instance: its name and where its problem comes from.

    ``source`` is a bundled name when ``bundled``, else a file path.
    """

    name: str
    source: str
    bundled: bool


def resolve(specs: Sequence[str]) -> list[Instance]:
    """The instances named by bundled names, files, directories and globs.

    A directory stands for every ``*.json`` file in it, a glob for every
    file it matches; a file's instance is named after its stem.

    Raises
    ------
    InputError
        If a spec names nothing, or two different files share a name.
    """
    known = bundled_instances()
    chosen: dict[str, Instance] = {}
    for spec in specs:
        for inst in _expand(spec, known):
            seen = chosen.setdefault(inst.name, inst)
            if seen.source != inst.source:
                raise InputError(
                    f"two instances named {inst.name!r}: {seen.source} and "
                    f"{inst.source}"
                )
    return list(chosen.values())


def _expand(spec: str, known: dict[str, str]) -> list[Instance]:
    path = Path(spec)
    if path.is_dir():
        files = [p for p in path.glob("*.json") if p.is_file()]
        if not files:
            raise InputError(f"directory {spec} holds no *.json file")
    elif path.is_file():
        files = [path]
    elif _GLOB_CHARS & set(spec):
        files = [Path(p) for p in glob.glob(spec) if Path(p).is_file()]
        if not files:
            raise InputError(f"{spec}: no file matches")
    else:
        name = spec.removesuffix(".json")
        if name not in known:
            raise InputError(
                f"{spec}: no such file, directory or bundled instance"
            )
        return [Instance(name, name, bundled=True)]
    return [
        Instance(p.stem, str(p), bundled=False)
        for p in sorted(files, key=lambda p: natural_key(p.stem))
    ]


@dataclass(frozen=True)
class Row:
    """One instance's benchmark result."""

    instance: str
    ops: int
    method: Method
    rules: Rules
    naive: float
    heuristic: float
    latency: float
    column_bound: float | None
    best_published: float | None
    time_limit: float | None
    runtime: float
    status: str
    source: str | None
    lower_bound: float | None = None
    #: The wall clock stopped a deterministic run: it may not reproduce.
    cut_short: bool = False

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
    def column_gap(self) -> float | None:
        """Relative gap of ours to the bound over CP-SAT's columns."""
        return relative_gap(self.latency, self.column_bound)

    @property
    def lower_bound_gap(self) -> float | None:
        """Relative gap of ours to the proven lower bound."""
        return relative_gap(self.latency, self.lower_bound)

    @property
    def over_bound(self) -> float | None:
        """Ours over the proven lower bound (1 is proven optimal)."""
        if not self.lower_bound:
            return None
        return self.latency / self.lower_bound


@dataclass(frozen=True)
class Failure:
    """An instance of the batch that gave no result, and why."""

    instance: str
    error: str


class Task(NamedTuple):
    """Everything one solve of a batch needs, picklable for any executor."""

    instance: str
    problem: Problem
    method: Method
    rules: Rules
    time_limit: float
    num_workers: int | None
    seed: int
    best_published: float | None
    deterministic: bool = False


class Outcome(NamedTuple):
    """What a task returns: its row or failure, and the schedule."""

    result: Row | Failure
    schedule: dict[str, Any] | None


def run_one(task: Task) -> Outcome:
    """Solve one task with its method and the two baselines.

    Never raises for a bad instance: the failure is the outcome.
    """
    try:
        return _solve_task(task)
    except Exception as exc:  # one bad instance must not stop the batch
        logger.exception("instance %s failed", task.instance)
        text = str(exc).replace("\n", " ")
        return Outcome(
            Failure(task.instance, f"{type(exc).__name__}: {text}"), None
        )


def _worker_failed(task: Task, error: BaseException) -> Outcome:
    """The outcome of a task whose worker died before returning."""
    first = (str(error).strip().splitlines() or [""])[0]
    text = f"worker failed: {type(error).__name__}: {first}"
    return Outcome(Failure(task.instance, text), None)


def _solve_task(task: Task) -> Outcome:
    from mlsched.solve import solve

    problem, rules = task.problem, task.rules
    naive = solve(problem, method="naive", rules=rules)
    heur = solve(problem, method="heuristic", rules=rules)
    if task.method == "heuristic":
        result = heur
    elif task.method == "naive":
        result = naive
    else:
        result = solve(
            problem,
            method=task.method,
            rules=rules,
            time_limit=task.time_limit,
            num_workers=task.num_workers,
            seed=task.seed,
            deterministic=task.deterministic,
        )
    if result.solution is None or naive.solution is None:
        failed = result if result.solution is None else naive
        message = f"no schedule ({failed.status.value}): {failed.message}"
        return Outcome(Failure(task.instance, message), None)
    row = Row(
        instance=task.instance,
        ops=problem.num_ops,
        method=task.method,
        rules=rules,
        naive=naive.objective,
        heuristic=heur.objective,
        latency=result.objective,
        column_bound=result.column_bound,
        best_published=task.best_published,
        time_limit=task.time_limit if task.method == "cpsat" else None,
        runtime=result.runtime,
        status=result.status.value,
        source=result.source,
        lower_bound=result.lower_bound,
        cut_short=result.cut_short,
    )
    return Outcome(row, result.solution.to_dict())


def _tasks(
    instances: Sequence[Instance],
    method: Method,
    rules: Rules,
    limits: Callable[[Instance], float],
    num_workers: int | None,
    seed: int,
    deterministic: bool = False,
) -> tuple[list[Task], list[Failure]]:
    """A task per loadable instance; a failure per unloadable one."""
    ref = reference()
    tasks: list[Task] = []
    failures: list[Failure] = []
    for inst in instances:
        try:
            problem = load_problem(inst.source)
        except InputError as exc:
            failures.append(Failure(inst.name, str(exc)))
            continue
        published = ref.get(inst.name, {}) if inst.bundled else {}
        tasks.append(
            Task(
                inst.name,
                problem,
                method,
                rules,
                limits(inst),
                num_workers,
                seed,
                published.get("best_published"),
                deterministic,
            )
        )
    return tasks, failures


def time_limits(
    time_scale: float = 1.0, time_limit: float | None = None
) -> Callable[[Instance], float]:
    """Each instance's budget: ``time_limit`` if given, else its contest
    limit (SPEC §11) times ``time_scale``, else :data:`DEFAULT_TIME_LIMIT`.
    """
    ref = reference()

    def limit(inst: Instance) -> float:
        if time_limit is not None:
            return time_limit
        contest = ref.get(inst.name, {}).get("time_limit_s")
        if inst.bundled and contest is not None:
            return float(contest) * time_scale
        return DEFAULT_TIME_LIMIT

    return limit


def run(
    instances: Sequence[Instance],
    method: Method = "cpsat",
    rules: Rules = "strict",
    time_scale: float = 1.0,
    time_limit: float | None = None,
    jobs: int = 1,
    num_workers: int | None = None,
    seed: int = 0,
    deterministic: bool = False,
    out_dir: str | None = None,
    progress: Callable[[int, int, Row | Failure], None] | None = None,
    executor: Executor | None = None,
) -> list[Row | Failure]:
    """Run ``method`` over ``instances`` on ``executor``.

    Parameters
    ----------
    instances
        What to run (see :func:`resolve`).
    executor
        Where the solves run (default: ``jobs`` local processes). Each
        task reserves ``num_workers`` CPUs (default 1).
    deterministic
        Solve each instance reproducibly (see :func:`mlsched.solve`): the
        same latencies on any executor and load, given the seed.
    out_dir
        Where each instance's schedule is written as it arrives, as
        ``<instance>.<method>.<rules>.json``.
    progress
        Called with (done, total, row or failure) as instances finish.

    Returns
    -------
    list
        A :class:`Row` or :class:`Failure` per instance, in input order.
        A file that cannot be loaded or solved is a failure; the others
        still run.
    """
    tasks, failures = _tasks(
        instances,
        method,
        rules,
        time_limits(time_scale, time_limit),
        num_workers,
        seed,
        deterministic,
    )
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    runner = executor if executor is not None else LocalExecutor(jobs)
    finished = runner.map_unordered(
        run_one, tasks, num_workers or 1, _worker_failed
    )
    outcomes = chain(
        (Outcome(f, None) for f in failures),
        (outcome for _, outcome in finished),
    )
    results: dict[str, Row | Failure] = {}
    for done, outcome in enumerate(outcomes, start=1):
        name = outcome.result.instance
        results[name] = outcome.result
        if out_dir is not None and outcome.schedule is not None:
            path = Path(out_dir) / f"{name}.{method}.{rules}.json"
            write_json_atomic(path, outcome.schedule)
        if progress:
            progress(done, len(instances), outcome.result)
    return [results[inst.name] for inst in instances]


def geomean(values: Sequence[float]) -> float:
    """Geometric mean of positive values."""
    return math.exp(sum(math.log(v) for v in values) / len(values))


def table(results: Sequence[Row | Failure]) -> str:
    """The results table with a geometric-mean row, as text.

    A failure gets a row of its own with its error, and counts in no
    mean.
    """
    head = (
        f"{'instance':<14} {'ops':>4} {'naive':>13} {'heuristic':>13} "
        f"{'ours':>13} {'column lb':>13} {'gap':>6} {'proven lb':>13} "
        f"{'gap':>6} {'ours/lb':>7} {'speedup':>7} {'best publ.':>12} "
        f"{'ratio':>6} {'time s':>7}"
    )
    lines = [head, "-" * len(head)]
    rows = [r for r in results if isinstance(r, Row)]
    for r in results:
        lines.append(_line(r))
    lines.append("-" * len(head))
    ratios = [r.ratio for r in rows if r.ratio is not None]
    at_or_below = sum(
        1
        for r in rows
        if r.best_published and round(r.latency) <= r.best_published
    )
    better = sum(1 for r in rows if improves(r.latency, r.heuristic))
    proven = sum(1 for r in rows if r.proven_optimal)
    speedup = f"{geomean([r.speedup for r in rows]):7.3f}" if rows else "-"
    overs = [r.over_bound for r in rows if r.over_bound is not None]
    over = f"{geomean(overs):7.3f}" if overs else "-"
    lines.append(
        f"{'geomean':<14} {'':>4} {'':>13} {'':>13} {'':>13} {'':>13} "
        f"{'':>6} {'':>13} {'':>6} {over:>7} {speedup:>7} {'':>12} "
        + (f"{geomean(ratios):6.3f}" if ratios else f"{'-':>6}")
    )
    failed = len(results) - len(rows)
    cut = sum(1 for r in rows if r.cut_short)
    lines.append(
        f"{len(rows)} instances"
        + (f" (and {failed} failed)" if failed else "")
        + f"; at or below best published (rounded): {at_or_below}; "
        f"strictly better than the heuristic: {better}; "
        f"proven optimal (at the lower bound): {proven}"
        + (
            f"; deterministic runs the time limit cut short (they may "
            f"not reproduce): {cut}"
            if cut
            else ""
        )
    )
    return "\n".join(lines)


def _line(r: Row | Failure) -> str:
    if isinstance(r, Failure):
        return f"{r.instance:<14} error: {r.error}"
    best = f"{r.best_published:12,.0f}" if r.best_published else f"{'-':>12}"
    ratio = f"{r.ratio:6.3f}" if r.ratio is not None else f"{'-':>6}"
    over = f"{r.over_bound:7.3f}" if r.over_bound is not None else f"{'-':>7}"
    return (
        f"{r.instance:<14} {r.ops:>4} {r.naive:13.1f} "
        f"{r.heuristic:13.1f} {r.latency:13.1f} "
        f"{_bound_cells(r.column_bound, r.column_gap)} "
        f"{_bound_cells(r.lower_bound, r.lower_bound_gap)} {over} "
        f"{r.speedup:7.3f} {best} {ratio} {r.runtime:7.2f}"
    )


def _bound_cells(bound: float | None, gap: float | None) -> str:
    """A bound and our gap to it, as two table cells."""
    if bound is None:
        return f"{'-':>13} {'-':>6}"
    gap_text = f"{gap:6.2%}" if gap is not None else f"{'-':>6}"
    return f"{bound:13.1f} {gap_text}"


def _record(r: Row | Failure) -> dict[str, Any]:
    """A row's JSON/CSV record; a failure's has only instance and error."""
    if isinstance(r, Failure):
        blank = dict.fromkeys(f.name for f in fields(Row))
        return {**blank, **dict.fromkeys(_DERIVED), **asdict(r)}
    return {
        **asdict(r),
        "speedup": r.speedup,
        "ratio": r.ratio,
        "column_gap": r.column_gap,
        "lower_bound_gap": r.lower_bound_gap,
        "over_bound": r.over_bound,
        "proven_optimal": r.proven_optimal,
        "error": None,
    }


_DERIVED = (
    "speedup",
    "ratio",
    "column_gap",
    "lower_bound_gap",
    "over_bound",
    "proven_optimal",
)


def save(results: Sequence[Row | Failure], out_dir: str) -> None:
    """Write ``results.csv`` and ``results.json`` to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = [_record(r) for r in results]
    write_json_atomic(out / "results.json", records)
    names = [f.name for f in fields(Row)] + [*_DERIVED, "error"]
    tmp = out / ".results.csv.tmp"
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
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
