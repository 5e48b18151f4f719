"""Check that two versions of the package give the same lower bounds.

    python benchmarks/bound_check.py OTHER_TREE [--seeds 300] [--tiny 100]

Computes ``lower_bound`` and the traffic bound alone, both profiles, on
the 24 benchmarks, the bundled examples, ``random_problem`` seeds and
``tiny_problem`` seeds (tests/), once with this tree's package and once
with OTHER_TREE's (a checkout, e.g. ``git worktree add --detach``), each
in a subprocess, and reports how many values are bit for bit equal.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from in_checkout import HERE, call_in


def _problems(seeds: int, tiny: int) -> list[tuple[str, object]]:
    """(name, source) of every problem checked."""
    sys.path.insert(0, str(HERE / "tests"))
    from exhaustive import tiny_problem
    from generators import random_problem

    from mlsched.model import bundled_instances

    found: list[tuple[str, object]] = [
        (name, name) for name in bundled_instances()
    ]
    found += [
        (f"random-{s}", random_problem(random.Random(s))) for s in range(seeds)
    ]
    found += [
        (f"tiny-{s}", tiny_problem(random.Random(s))) for s in range(tiny)
    ]
    return found


def values(seeds: int, tiny: int) -> dict[str, str]:
    """Every bound as ``float.hex``, by problem, profile and kind."""
    from mlsched.model import load_problem
    from mlsched.model.bounds import lower_bound
    from mlsched.model.traffic import traffic_bound

    out = {}
    for name, source in _problems(seeds, tiny):
        for rules in ("strict", "contest"):
            problem = load_problem(source)  # type: ignore[arg-type]
            out[f"{name}/{rules}/traffic"] = traffic_bound(
                problem, rules
            ).hex()
            out[f"{name}/{rules}/lower"] = lower_bound(problem, rules).hex()
    return out


def _run(tree: Path, seeds: int, tiny: int) -> dict[str, str]:
    """:func:`values` with ``tree``'s package."""
    result: dict[str, str] = call_in(
        tree, "bound_check", "values", seeds, tiny
    )
    return result


def main() -> None:
    """Compare and print the counts; exit 1 on any difference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path)
    parser.add_argument("--seeds", type=int, default=300)
    parser.add_argument("--tiny", type=int, default=100)
    args = parser.parse_args()
    mine = _run(HERE, args.seeds, args.tiny)
    theirs = _run(args.other.resolve(), args.seeds, args.tiny)
    assert mine.keys() == theirs.keys()
    differ = [k for k in mine if mine[k] != theirs[k]]
    groups: dict[str, list[int]] = {}
    for key in mine:
        group = key.split("-")[0] if "-" in key.split("/")[0] else "example"
        group = "benchmark" if key.startswith("mlsys") else group
        counts = groups.setdefault(group, [0, 0])
        counts[0] += 1
        counts[1] += key not in differ
    for group, (total, equal) in groups.items():
        print(f"{group:<10} {equal}/{total} values bit for bit equal")
    for key in differ[:20]:
        print(f"DIFFERS {key}: {mine[key]} vs {theirs[key]}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
