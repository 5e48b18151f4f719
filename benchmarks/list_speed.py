"""Time the list scheduler against another checkout and check equality.

Two commands, each comparing this checkout (``new``) with the one at
``OLD`` (a work tree of an earlier commit, e.g. made with ``git worktree
add --detach ../old main``):

``time OLD``
    Times the list-scheduler path of ``solve`` (``method="heuristic"``
    and ``"naive"``, without the proven lower bound, which is not the list
    scheduler's) on a workload, in two worker processes, one importing
    each checkout. Rounds alternate which goes first; the best time of
    each over the rounds is kept, so a noisy shared machine shows in
    neither ratio. Every timed call gets freshly loaded problems: no
    cache of one round serves the next.

``check OLD``
    Solves every instance with ``solve`` in both checkouts (heuristic
    and naive, both profiles; benchmarks, examples and random problems)
    and compares the exact objective and ``solution.to_dict()``; the
    benchmarks also deterministically under :data:`DETERMINISTIC_LIMITS`.
    Prints the counts and exits non-zero on any difference.

Usage::

    python benchmarks/list_speed.py time OLD [--rounds N]
                                    [--workload random|benchmarks]
    python benchmarks/list_speed.py check OLD [--seeds N] [--jobs N]
                                    [--old-cache FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from in_checkout import HERE, env_for

EXAMPLES = ("example1", "example2", "example3", "example4", "example5")
PROFILES = ("strict", "contest")
METHODS = ("heuristic", "naive")


def _random_raw(seed: int) -> dict[str, Any]:
    """The tests' random problem of ``seed``."""
    import random

    sys.path.insert(0, str(HERE / "tests"))
    from generators import random_problem

    return random_problem(random.Random(seed))


def _instances(workload: str, seeds: int) -> Iterator[tuple[str, Any]]:
    """``(label, source)`` of every instance of ``workload``."""
    from mlsched.model import benchmark_names

    if workload in ("all", "benchmarks"):
        for name in benchmark_names():
            yield name, name
    if workload == "all":
        for name in (*EXAMPLES, "example_problem"):
            yield name, name
    if workload in ("all", "random"):
        for seed in range(seeds):
            yield f"seed{seed}", _random_raw(seed)


# Worker side ------------------------------------------------------------


def _list_path(problem: Any, method: str, rules: str) -> float:
    """What ``solve(problem, method, rules)`` runs but the lower bound:
    the schedule, its solution and its exact objective."""
    from mlsched.heuristics import GranularityOptimizer, naive_schedule
    from mlsched.heuristics.scheduler import ListScheduler
    from mlsched.model import exact_objective
    from mlsched.model.schedule import to_solution

    optimizer = GranularityOptimizer(problem, rules)
    if method == "naive":
        fine = GranularityOptimizer(problem, rules, fine=True)
        steps = naive_schedule(problem, optimizer, fine)
    else:
        steps = ListScheduler(problem, rules, optimizer).schedule()
    return exact_objective(problem, to_solution(problem, steps), rules)


def _time_once(sources: list[Any]) -> float:
    """Seconds of the list path over ``sources``, every profile and
    method, on freshly loaded problems."""
    from mlsched import load_problem

    problems = [load_problem(s) for s in sources]
    began = time.perf_counter()
    for p in problems:
        for rules in PROFILES:
            for method in METHODS:
                _list_path(p, method, rules)
    return time.perf_counter() - began


def _worker(workload: str, seeds: int) -> None:
    """Answer each line on stdin with the time of one workload run."""
    import mlsched

    sources = [s for _, s in _instances(workload, seeds)]
    print(mlsched.__file__, flush=True)
    for _ in sys.stdin:
        print(_time_once(sources), flush=True)


#: Time limits of the deterministic solves of the benchmarks: their
#: virtual clock cuts the list scheduler short, so these schedules also
#: check that the counted work is what it was.
DETERMINISTIC_LIMITS = (0.3, 1.0)


def _dump(seeds: int, part: int, parts: int) -> None:
    """Print one JSON line per solve of this process's share."""
    from mlsched import solve

    for i, (label, source) in enumerate(_instances("all", seeds)):
        if i % parts != part:
            continue
        limits: tuple[float | None, ...] = (None,)
        if not label.startswith(("seed", "example")):
            limits += DETERMINISTIC_LIMITS
        for rules in PROFILES:
            for method in METHODS:
                for limit in limits:
                    r = solve(
                        source,
                        method=method,
                        rules=rules,
                        time_limit=limit,
                        deterministic=limit is not None,
                    )
                    row = {
                        "key": f"{label}/{rules}/{method}/{limit}",
                        "objective": repr(r.objective),
                        "solution": r.solution and r.solution.to_dict(),
                    }
                    print(json.dumps(row, sort_keys=True), flush=True)


# Driver side ------------------------------------------------------------


def _spawn(root: Path, args: list[str]) -> subprocess.Popen[str]:
    """This script in a process that imports mlsched from ``root``."""
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        env=env_for(root),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _time(old: Path, rounds: int, workload: str, seeds: int) -> None:
    args = ["worker", "--workload", workload, "--seeds", str(seeds)]
    procs = {"old": _spawn(old, args), "new": _spawn(HERE, args)}
    for name, proc in procs.items():
        assert proc.stdout is not None
        print(f"{name}: {proc.stdout.readline().strip()}")
    best = {name: float("inf") for name in procs}
    for i in range(rounds):
        turn = list(procs) if i % 2 == 0 else list(procs)[::-1]
        for name in turn:
            proc = procs[name]
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
            took = float(proc.stdout.readline())
            best[name] = min(best[name], took)
            print(f"round {i} {name}: {took:.3f} s", flush=True)
    for proc in procs.values():
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait()
    ratio = best["old"] / best["new"]
    print(
        f"{workload}: best old {best['old']:.3f} s, new {best['new']:.3f} s,"
        f" old/new {ratio:.3f}"
    )


def _results(root: Path, seeds: int, jobs: int) -> dict[str, Any]:
    """Every solve's row from the checkout at ``root``, by key."""
    procs = [
        _spawn(root, ["dump", "--seeds", str(seeds), "--part", f"{j}/{jobs}"])
        for j in range(jobs)
    ]
    rows: dict[str, Any] = {}
    for proc in procs:
        out, _ = proc.communicate("")
        if proc.returncode:
            raise SystemExit(f"dump in {root} failed")
        for line in out.splitlines():
            row = json.loads(line)
            rows[row.pop("key")] = row
    return rows


def _check(old: Path, seeds: int, jobs: int, cache: Path | None) -> None:
    if cache is not None and cache.exists():
        before = json.loads(cache.read_text())
    else:
        before = _results(old, seeds, jobs)
        if cache is not None:
            cache.write_text(json.dumps(before))
    after = _results(HERE, seeds, jobs)
    differ = sorted(k for k in before if before[k] != after.get(k))
    missing = sorted(set(before) ^ set(after))
    print(f"{len(before)} old solves, {len(after)} new solves")
    print(f"{len(before) - len(differ)} equal, {len(differ)} differ")
    for key in differ[:20] + missing[:20]:
        print("differs or missing:", key)
    if differ or missing:
        raise SystemExit(1)


def main() -> None:
    """Parse the command line and run a command."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("time", "check", "worker", "dump"))
    parser.add_argument("old", nargs="?", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--workload", choices=("random", "benchmarks"), default="random"
    )
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--part", default="0/1")
    parser.add_argument(
        "--old-cache",
        type=Path,
        help="keep the old checkout's results in this file (reused)",
    )
    a = parser.parse_args()
    if a.command == "worker":
        _worker(a.workload, a.seeds)
    elif a.command == "dump":
        part, parts = (int(x) for x in a.part.split("/"))
        _dump(a.seeds, part, parts)
    elif a.old is None:
        parser.error(f"{a.command} needs the old checkout")
    elif a.command == "time":
        _time(a.old, a.rounds, a.workload, a.seeds or 60)
    else:
        _check(a.old, a.seeds or 300, a.jobs, a.old_cache)


if __name__ == "__main__":
    main()
