"""Tests of the priority-queue fusion against the direct greedy.

The reference below is the greedy written out plainly: every round it
scores every link again, takes the best (ties to the first link), and
checks acyclicity by a depth-first search over the whole group graph.
The scaled fusion must make the same merges in the same order.
"""

from __future__ import annotations

import random
import time

import pytest
from generators import random_problem

from mlsched import Problem, evaluate, generate, load_problem
from mlsched.heuristics import DependencyAnalyzer, ListScheduler
from mlsched.heuristics.fusion import Group
from mlsched.model.schedule import to_solution


def _acyclic_after(
    deps: DependencyAnalyzer, merged: tuple[int, ...], group_of: list[int]
) -> bool:
    """Whether the whole group graph is acyclic once ``merged`` unite."""
    label = [merged[0] if g in merged else g for g in group_of]
    succ: dict[int, set[int]] = {}
    for o, c, _ in deps.edges():
        if label[o] != label[c]:
            succ.setdefault(label[o], set()).add(label[c])
    state: dict[int, int] = {}

    def visit(g: int) -> bool:
        state[g] = 1
        for x in succ.get(g, ()):
            if state.get(x) == 1 or (not state.get(x) and not visit(x)):
                return False
        state[g] = 2
        return True

    return all(state.get(g) or visit(g) for g in list(succ))


def reference_fuse(
    scheduler: ListScheduler, relative: bool, retain_aware: bool
) -> list[tuple[int, ...]]:
    """The direct greedy: rescan all links after every merge."""
    p = scheduler.problem
    groups: dict[int, Group] = {}
    for o in range(p.num_ops):
        choice = scheduler.choose([o])
        assert choice is not None
        groups[o] = Group((o,), choice.latency)
    group_of = list(range(p.num_ops))
    rejected: set[frozenset[int]] = set()
    while True:
        best = None
        for a, b in scheduler.links:
            ga, gb = group_of[a], group_of[b]
            if ga == gb:
                continue
            cand = scheduler.score_pair(
                ga, gb, groups, group_of, relative, retain_aware
            ).candidate
            if cand is None or cand.ops in rejected:
                continue
            if best is None or cand.score > best.score:
                best = cand
        if best is None:
            break
        if not _acyclic_after(scheduler.deps, best.merged, group_of):
            rejected.add(best.ops)
            continue
        choice = scheduler.choose(best.ops)
        assert choice is not None
        gid = best.merged[0]
        for g in best.merged:
            del groups[g]
        groups[gid] = Group(scheduler.deps.in_order(best.ops), choice.latency)
        for o in best.ops:
            group_of[o] = gid
    return [g.ops for g in groups.values()]


def _problems() -> list[tuple[str, Problem]]:
    cases = [
        (f"random-{seed}", load_problem(random_problem(random.Random(seed))))
        for seed in range(0, 200, 4)
    ]
    small = {"hidden": 256, "seq": 128, "heads": 4, "ffn": 512}
    for family in ("llama", "moe", "transformer"):
        cases.append((family, generate(family, layers=2, **small)))
    return cases


@pytest.mark.parametrize(
    ("relative", "retain_aware"),
    [(False, False), (True, False), (False, True)],
)
@pytest.mark.parametrize(("name", "problem"), _problems())
def test_same_groups_as_direct_greedy(
    name: str, problem: Problem, relative: bool, retain_aware: bool
) -> None:
    """Tests that the heap-driven fusion returns the direct greedy's
    groups, in the same order, for every fusion strategy."""
    del name
    scheduler = ListScheduler(problem)
    expected = reference_fuse(scheduler, relative, retain_aware)
    assert scheduler.fuse(relative, retain_aware) == expected


def test_past_deadline_keeps_singletons() -> None:
    """Tests that a deadline already past stops fusion before any merge:
    the result is the valid one-op-per-group partition."""
    problem = generate("llama", layers=1, hidden=256, seq=128, heads=4)
    scheduler = ListScheduler(problem)
    groups = scheduler.fuse(deadline=time.perf_counter() - 1)
    assert groups == [(o,) for o in range(problem.num_ops)]
    assert len(scheduler.fuse()) < problem.num_ops


def test_schedule_past_deadline_is_valid() -> None:
    """Tests that the list scheduler with its deadline already past still
    returns a complete, valid schedule (the one-op-per-subgraph one)."""
    problem = generate("llama", layers=2, hidden=256, seq=128, heads=4)
    steps = ListScheduler(problem).schedule(time.perf_counter() - 1)
    assert sorted(o for s in steps for o in s.ops) == list(
        range(problem.num_ops)
    )
    assert evaluate(problem, to_solution(problem, steps)).valid
