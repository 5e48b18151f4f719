"""Soundness of the lower bound: no valid schedule is below it.

Four sources of schedules: the exact optimum of tiny random problems
(``tests/exhaustive.py`` searches every valid schedule), the conformance
corpus, the list scheduler on random problems, and the committed
benchmark schedules. The last test injects a deliberately unsound term
and checks that these tests would catch it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from exhaustive import (
    held_chain_problem,
    narrow_problem,
    optimum,
    tiny_problem,
)
from solved import bundled, random_instance, random_listed

from mlsched import Problem, evaluate, load_problem
from mlsched.model import chains, terms, traffic
from mlsched.model.bounds import compute_bound, lower_bound
from mlsched.model.chains import native_tiles

PROFILES = ("strict", "contest")
RESULTS = Path(__file__).parents[2] / "benchmarks" / "results"
SLACK = 1 + 1e-9


def tiny_cases(seeds: range) -> list[tuple[Problem, str, float]]:
    """(problem, rules, exact optimum) of tiny problems with a schedule."""
    cases = []
    for seed in seeds:
        p = load_problem(tiny_problem(random.Random(seed)))
        for rules in PROFILES:
            best = optimum(p, rules)
            if best < float("inf"):
                cases.append((p, rules, best))
    return cases


def exceeded(
    cases: list[tuple[Problem, str, float]],
    bound: Callable[[Problem, str], float] = lower_bound,
) -> list[tuple[str, float, float]]:
    """(rules, bound, latency) of every case whose latency is below the
    bound."""
    # Many cases share a problem: each (problem, rules) is bounded once
    # per call, so a bound patched between two calls is seen by the next.
    bounds: dict[tuple[Problem, str], float] = {}
    for p, rules, _ in cases:
        if (p, rules) not in bounds:
            bounds[p, rules] = bound(p, rules)
    return [
        (rules, bounds[p, rules], latency)
        for p, rules, latency in cases
        if bounds[p, rules] > latency * SLACK
    ]


@pytest.fixture(scope="module", name="tiny")
def tiny_fixture() -> list[tuple[Problem, str, float]]:
    """30 tiny problems, both profiles, with their exact optima."""
    return tiny_cases(range(30))


#: The tests that read ``tiny`` run in one pytest-xdist worker, which
#: searches the optima once.
shares_tiny = pytest.mark.xdist_group("tiny_optima")


@shares_tiny
def test_bound_is_below_the_exact_optimum_of_tiny_problems(
    tiny: list[tuple[Problem, str, float]],
) -> None:
    """Tests that on tiny random problems (2-4 ops, MatMul chains,
    shared inputs, odd sides) the bound never exceeds the optimum over
    every valid schedule, and meets it on most of them."""
    assert len(tiny) >= 50
    assert exceeded(tiny) == []
    met = sum(lower_bound(p, r) >= best / SLACK for p, r, best in tiny)
    assert met >= len(tiny) // 2


@pytest.mark.slow
def test_bound_is_below_the_exact_optimum_of_many_tiny_problems() -> None:
    """Tests the same on 300 more tiny problems (600 optima)."""
    cases = tiny_cases(range(1000, 1300))
    assert len(cases) >= 500
    assert exceeded(cases) == []


def matmul_chain(rng: random.Random) -> dict[str, Any]:
    """Three MatMuls on sides 1..4, each output the LHS or the RHS of
    the next, on a native tile of sides 2..3 (contest JSON dict)."""
    widths, heights = [rng.randint(1, 4)], [rng.randint(1, 4)]
    inputs: list[list[int]] = []
    outputs: list[list[int]] = []

    def tensor(w: int, h: int) -> int:
        widths.append(w)
        heights.append(h)
        return len(widths) - 1

    made = 0
    for _ in range(3):
        n = rng.randint(1, 4)
        if not inputs or rng.random() < 0.5:  # made @ (w x n)
            other = tensor(n, widths[made])
            inputs.append([made, other])
            made = tensor(n, heights[made])
        else:  # (n x h) @ made
            other = tensor(heights[made], n)
            inputs.append([other, made])
            made = tensor(widths[made], n)
        outputs.append([made])
    return {
        "widths": widths,
        "heights": heights,
        "inputs": inputs,
        "outputs": outputs,
        "base_costs": [rng.choice((1, 10, 100)) for _ in inputs],
        "op_types": ["MatMul"] * 3,
        "fast_memory_capacity": rng.choice((20, 40, 1000)),
        "slow_memory_bandwidth": rng.choice((1, 5, 10**6)),
        "native_granularity": list(
            rng.choice(((2, 2), (3, 2), (2, 3), (3, 3)))
        ),
    }


def unchained(p: Problem) -> float:
    """Compute of a chain of MatMuls if each could run on the grid of
    any output down the chain (as if no rule limited their number)."""
    tiles = [
        native_tiles(p, t) for o in range(p.num_ops) for t in p.outputs[o]
    ]
    return sum(p.base_costs[o] * min(tiles[o:]) for o in range(p.num_ops))


# T2 = T0 @ T1, T4 = T2 @ T3, T6 = T5 @ T4 on a native tile 3 wide and 2
# high: T2 and T4 are 3x3 (two tiles), T6 1x3 (one); every K is 3. In
# contest one subgraph holds all three at w = k = 3 on T6's one tile:
# the optimum is compute, 100 + 10 + 1 = 111 at this bandwidth. In
# strict k <= 2 < 3, so MatMul 0 computes on two tiles: 211.
EQUAL_K = {
    "widths": [3, 3, 3, 3, 3, 3, 3],
    "heights": [3, 3, 3, 3, 3, 1, 1],
    "inputs": [[0, 1], [2, 3], [5, 4]],
    "outputs": [[2], [4], [6]],
    "base_costs": [100, 10, 1],
    "op_types": ["MatMul"] * 3,
    "fast_memory_capacity": 1000,
    "slow_memory_bandwidth": 10**6,
    "native_granularity": [3, 2],
}


def test_bound_is_below_the_exact_optimum_of_matmul_chains() -> None:
    """Tests that on chains of three MatMuls, where a subgraph holding
    all three needs every K equal to k and to the tile width (SPEC §4
    items 3 and 7), the bound never exceeds the optimum over every
    valid schedule in either profile (on random chains and on one where
    all three share a subgraph), and that this rule raises the contest
    compute bound above running every MatMul on the grid of any output
    down its chain on some of them."""
    rng = random.Random(7)
    cases, raised = [], 0
    for problem in [EQUAL_K] + [matmul_chain(rng) for _ in range(80)]:
        p = load_problem(problem)
        raised += compute_bound(p, "contest") > unchained(p)
        for rules in PROFILES:
            best = optimum(p, rules)
            if best < float("inf"):
                cases.append((p, rules, best))
    assert len(cases) >= 130
    assert exceeded(cases) == []
    assert exceeded(cases, compute_bound) == []
    assert raised >= 3


def test_bound_is_below_the_exact_optimum_of_one_step_chains(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tests that where a Pointwise op feeds a MatMul of K above a native
    side (one k-step in contest) and MatMuls of the chain have graph
    inputs of at least the capacity as operands, the contest bound never
    exceeds the optimum over every valid schedule; that counting those
    operands' K-deep slices raises the compute bound on some of them;
    and that slices twice as deep would exceed the optimum on some (the
    test can tell a wrong count)."""
    rng = random.Random(11)
    cases = []
    for make, count in ((narrow_problem, 120), (held_chain_problem, 40)):
        for _ in range(count):
            p = load_problem(make(rng))
            best = optimum(p, "contest")
            if best < float("inf"):
                cases.append((p, "contest", best))
    assert len(cases) >= 150
    assert exceeded(cases) == []
    assert exceeded(cases, compute_bound) == []
    counted = [compute_bound(p, "contest") for p, _, _ in cases]
    with monkeypatch.context() as m:
        m.setattr(chains.Chains, "one_step", lambda *_: False)
        raised = sum(
            bound > compute_bound(p, "contest")
            for bound, (p, _, _) in zip(counted, cases, strict=True)
        )
    assert raised >= 60
    held = chains.Chains.held
    monkeypatch.setattr(
        chains.Chains,
        "held",
        lambda self, m: tuple(2 * k for k in held(self, m)),
    )
    assert exceeded(cases, compute_bound) != []


@pytest.mark.parametrize("rules", PROFILES)
def test_bound_is_below_the_list_schedule_of_random_problems(
    rules: str,
) -> None:
    """Tests that the list schedule of 40 random problems (3-14 ops,
    tight to generous capacities) is never below the bound."""
    for seed in range(40):
        _, p = random_instance(seed)
        result = random_listed(seed, "heuristic", rules)
        assert result.lower_bound == lower_bound(p, rules)
        assert result.lower_bound <= result.objective * SLACK, seed


def committed(rules: str) -> list[tuple[Problem, str, float]]:
    """(problem, rules, latency) of every committed benchmark schedule."""
    cases = []
    for path in sorted((RESULTS / rules).glob("*.json")):
        if not path.name.startswith("mlsys-"):
            continue
        p = bundled(path.name.split(".")[0])
        ev = evaluate(p, json.loads(path.read_text()), rules)
        assert ev.valid, (path.name, ev.message)
        cases.append((p, rules, ev.total_latency))
    return cases


@pytest.mark.parametrize("rules", PROFILES)
def test_bound_is_below_every_committed_benchmark_schedule(
    rules: str,
) -> None:
    """Tests that the 24 committed benchmark schedules (CP-SAT, contest
    time limits) are never below the bound."""
    cases = committed(rules)
    assert len(cases) == 24
    assert exceeded(cases) == []


def corpus_schedules(
    corpus: tuple[dict[str, Any], ...], problem_of: Any
) -> list[tuple[Problem, str, float]]:
    """(problem, rules, latency) of every valid corpus schedule."""
    return [
        (problem_of(case["problem"]), rules, case[rules]["total_latency"])
        for case in corpus
        for rules in PROFILES
        if case[rules]["valid"]
    ]


@shares_tiny
def test_an_unsound_term_is_caught(
    tiny: list[tuple[Problem, str, float]],
    corpus: tuple[dict[str, Any], ...],
    problem_of: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tests that the soundness checks catch a deliberately unsound
    term: at one k-step, charging a MatMul's LHS row strip on every
    tile (inequality (5) says once per row: a raster order reuses it
    along the row)."""
    sliced = terms._sliced

    def every_tile(acc: Any, mm: Any) -> None:
        sliced(acc, mm)
        if mm.load_l and not mm.many:
            acc.m0 -= mm.wt_l * mm.height * mm.ks
            acc.m_nw += mm.wt_l * mm.height * mm.ks

    cases = tiny + corpus_schedules(corpus, problem_of)
    assert exceeded(cases, traffic.traffic_bound) == []
    monkeypatch.setattr(terms, "_sliced", every_tile)
    assert exceeded(cases, traffic.traffic_bound) != []
