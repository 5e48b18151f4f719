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
from exhaustive import optimum, tiny_problem
from solved import bundled, random_instance, random_listed

from mlsched import Problem, evaluate, load_problem
from mlsched.model import terms, traffic
from mlsched.model.bounds import lower_bound

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
