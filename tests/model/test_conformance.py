"""The evaluator against the 600-case conformance corpus (SPEC §10)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from mlsched import Evaluation, Problem, evaluate

PROFILES = ("contest", "strict")
REL = 1e-9

ProblemOf = Callable[[str | dict[str, Any]], Problem]

#: (case id, profile) -> the evaluator's verdict, computed once: the
#: per-case tests and the corpus summary check the same evaluations.
_EVALUATIONS: dict[tuple[str, str], Evaluation] = {}


def evaluated(
    case: dict[str, Any], profile: str, problem_of: ProblemOf
) -> Evaluation:
    """``evaluate`` of a corpus case under ``profile``, once per session."""
    key = (case["id"], profile)
    if key not in _EVALUATIONS:
        _EVALUATIONS[key] = evaluate(
            problem_of(case["problem"]), case["solution"], rules=profile
        )
    return _EVALUATIONS[key]


def mismatch(ev: Evaluation, expected: dict[str, Any]) -> str | None:
    """How ``ev`` disagrees with an expected corpus verdict, or None."""
    if ev.valid != expected["valid"]:
        return (
            f"valid={ev.valid} ({ev.category}: {ev.message}), expected "
            f"{expected}"
        )
    if not expected["valid"]:
        if ev.category != expected["category"]:
            return f"category {ev.category!r} != {expected['category']!r}"
        return None
    want = expected["subgraph_latencies"]
    if len(ev.subgraph_latencies) != len(want):
        return f"{len(ev.subgraph_latencies)} latencies, expected {len(want)}"
    for s, (got, exp) in enumerate(
        zip(ev.subgraph_latencies, want, strict=True)
    ):
        if not math.isclose(got, exp, rel_tol=REL):
            return f"subgraph {s}: latency {got!r} != {exp!r}"
    if not math.isclose(
        ev.total_latency, expected["total_latency"], rel_tol=REL
    ):
        return f"total {ev.total_latency!r} != {expected['total_latency']!r}"
    return None


@pytest.mark.parametrize("profile", PROFILES)
def test_case_agrees_with_corpus(
    case: dict[str, Any], profile: str, problem_of: ProblemOf
) -> None:
    """Tests that the evaluator's verdict, category and latencies agree
    with the corpus for this case and profile."""
    ev = evaluated(case, profile, problem_of)
    assert ev.rules == profile
    assert mismatch(ev, case[profile]) is None, mismatch(ev, case[profile])


@pytest.mark.parametrize("profile", PROFILES)
def test_reference_simulation_agrees_with_corpus(
    valid_case: dict[str, Any], profile: str, problem_of: ProblemOf
) -> None:
    """Tests that the per-cell reference simulation (reference=True)
    agrees with the corpus on every contest-valid case."""
    ev = evaluate(
        problem_of(valid_case["problem"]),
        valid_case["solution"],
        rules=profile,
        reference=True,
    )
    expected = valid_case[profile]
    assert mismatch(ev, expected) is None, mismatch(ev, expected)


def test_invalid_verdict_has_no_latency(
    corpus: tuple[dict[str, Any], ...], problem_of: ProblemOf
) -> None:
    """Tests that an invalid verdict reports an infinite total, no
    per-subgraph latencies and a non-empty message."""
    # The first case the corpus calls contest-invalid.
    case = next(c for c in corpus if not c["contest"]["valid"])
    ev = evaluate(problem_of(case["problem"]), case["solution"], "contest")
    assert not ev.valid
    assert ev.total_latency == math.inf
    assert ev.subgraph_latencies == ()
    assert ev.subgraphs == ()
    assert ev.message and ev.message != "valid"


def test_corpus_summary(
    corpus: tuple[dict[str, Any], ...], problem_of: ProblemOf
) -> None:
    """Tests that all 600 corpus cases agree in each profile (a summary
    that also pins the size and mix of the corpus)."""
    assert len(corpus) == 600
    agree = {p: 0 for p in PROFILES}
    failures: list[str] = []
    for case in corpus:
        for profile in PROFILES:
            ev = evaluated(case, profile, problem_of)
            why = mismatch(ev, case[profile])
            if why is None:
                agree[profile] += 1
            else:
                failures.append(f"{case['id']} {profile}: {why}")
    assert agree == {"contest": 600, "strict": 600}, failures[:10]
    # The corpus is ~60% valid (SPEC §10); a strict-valid case is always
    # contest-valid (SPEC §8).
    contest_valid = sum(c["contest"]["valid"] for c in corpus)
    strict_valid = sum(c["strict"]["valid"] for c in corpus)
    assert 300 < strict_valid <= contest_valid < 450
    assert all(c["contest"]["valid"] for c in corpus if c["strict"]["valid"])
