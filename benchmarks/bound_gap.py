"""How far the proven lower bound is from the best schedules mlsched finds.

For each of the 24 contest benchmarks and both rule profiles: the best
latency among the committed schedules (``benchmarks/results/<rules>/``,
re-scored with the evaluator) and, in the contest profile, the same
schedule with the last subgraph keeping its graph outputs (SPEC §7 lets
it: a retained tensor is not written); the proven lower bound and the
time it took; and best / bound. The geometric mean runs over benchmarks
1-16 (issue 11's target), the maximum over all 24.

    python benchmarks/bound_gap.py [--rules strict contest] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from mlsched import evaluate, load_problem, lower_bound
from mlsched.model.io import benchmark_names

RESULTS = Path(__file__).parent / "results"


def keep_last_outputs(
    problem: Any, solution: dict[str, Any]
) -> dict[str, Any]:
    """The schedule with its last subgraph retaining the graph outputs it
    writes (contest only: nothing follows, so they are never written)."""
    last = solution["subgraphs"][-1]
    outs = [
        t
        for o in last
        for t in problem.outputs[o]
        if t in problem.graph_outputs
    ]
    retain = [list(r) for r in solution["tensors_to_retain"]]
    retain[-1] = sorted(set(retain[-1]) | set(outs))
    return {**solution, "tensors_to_retain": retain}


def best_known(name: str, rules: str) -> tuple[float, str]:
    """The best latency of the committed schedule (and its variant)."""
    problem = load_problem(name)
    path = RESULTS / rules / f"{name}.cpsat.{rules}.json"
    solution = json.loads(path.read_text())
    ev = evaluate(problem, solution, rules)
    best, source = ev.total_latency, "committed"
    if rules == "contest":
        kept = evaluate(problem, keep_last_outputs(problem, solution), rules)
        if kept.valid and kept.total_latency < best:
            best, source = kept.total_latency, "kept outputs"
    return best, source


def table(rules: str) -> list[str]:
    """The per-benchmark lines of one profile."""
    lines = [
        f"{rules} rules",
        f"{'instance':<15}{'ops':>5}{'best found':>14}{'bound':>14}"
        f"{'best/bound':>11}{'bound s':>9}  source",
    ]
    logs, worst = [], 0.0
    for name in benchmark_names():
        problem = load_problem(name)
        best, source = best_known(name, rules)
        start = time.process_time()
        bound = lower_bound(problem, rules)
        seconds = time.process_time() - start
        ratio = best / bound
        worst = max(worst, ratio)
        if int(name.rsplit("-", 1)[1]) <= 16:
            logs.append(math.log(ratio))
        lines.append(
            f"{name:<15}{problem.num_ops:>5}{best:>14,.1f}{bound:>14,.1f}"
            f"{ratio:>11.3f}{seconds:>9.2f}  {source}"
        )
    geomean = math.exp(sum(logs) / len(logs))
    lines.append(
        f"geomean best/bound over 1-16: {geomean:.3f}; "
        f"max over all 24: {worst:.3f}"
    )
    return lines


def main() -> None:
    """Print (and optionally write) the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", nargs="+", default=["strict", "contest"])
    parser.add_argument("--out", type=Path, help="also write the text here")
    args = parser.parse_args()
    text = "\n\n".join("\n".join(table(r)) for r in args.rules) + "\n"
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
