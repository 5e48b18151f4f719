"""Shared access to the conformance corpus (SPEC §10).

``tests/data/cases.jsonl`` holds 600 schedules with the expected verdict
in both rule profiles. Any test that takes a ``case`` argument is run once
per corpus case, and one that takes ``valid_case`` once per case that is
valid in the contest profile (``pytest_generate_tests`` below); the
``problem_of`` fixture turns a case's ``problem`` field into a
:class:`mlsched.Problem`.

Under pytest-xdist, a ``timed`` test runs alone (``pytest_runtest_protocol``),
and the tests of an ``xdist_group`` run in one worker.
"""

from __future__ import annotations

import fcntl
import gc
import json
import weakref
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import IO, Any

import pytest
from solved import bundled

from mlsched import Problem, load_problem
from mlsched.model import bounds

CASES_PATH = Path(__file__).parent / "data" / "cases.jsonl"


@cache
def corpus_cases() -> tuple[dict[str, Any], ...]:
    """Every corpus case, in file order."""
    with CASES_PATH.open() as fh:
        return tuple(json.loads(line) for line in fh if line.strip())


def bundled_name(path: str) -> str:
    """``"benchmarks-final/mlsys-2026-5.json"`` -> ``"mlsys-2026-5"``."""
    name = path.rsplit("/", 1)[-1]
    return name.removesuffix(".json")


@cache
def _inline_problem(canonical: str) -> Problem:
    return load_problem(json.loads(canonical))


def problem_of(raw: str | dict[str, Any]) -> Problem:
    """The problem of a corpus case (a bundled file name or a dict).

    Loaded once per distinct problem (the 366 inline ones are 79): a
    problem is frozen, and the bounds and costs the library keeps per
    problem then serve every case and test that shares it.
    """
    if isinstance(raw, str):
        return bundled(bundled_name(raw))
    return _inline_problem(json.dumps(raw, sort_keys=True))


@pytest.fixture(name="problem_of")
def problem_of_fixture() -> Callable[[str | dict[str, Any]], Problem]:
    """The :func:`problem_of` loader (each problem is loaded once)."""
    return problem_of


@pytest.fixture
def no_kept_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """No lower bound kept from other tests: the library keeps each
    problem's bound while any equal problem lives (the cache is keyed
    by value), so a test that must see a bound computed, or not yet
    known, starts from an empty cache."""
    monkeypatch.setattr(bounds, "_BOUNDS", weakref.WeakKeyDictionary())


@pytest.fixture(name="corpus")
def corpus_fixture() -> tuple[dict[str, Any], ...]:
    """All 600 corpus cases."""
    return corpus_cases()


#: Under pytest-xdist, every ``timed`` test (outside another group) goes
#: to one worker, which runs them back to back (``pytest_runtest_protocol``
#: below): the other workers then stand aside once for all of them, not
#: once for each.
TIMED_GROUP = "timed"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Under ``--dist loadgroup``, put every ``timed`` test without an
    xdist group in ``timed``, and make sure each grouped test's node id
    ends in ``@GROUP``, which is how pytest-xdist's scheduler finds the
    group.

    pytest-xdist 3.8 appends it by setting ``item._nodeid``, which
    pytest 9.2 no longer reads (its node ids live in ``item._id``): the
    groups were silently ignored, and each worker built the shared
    fixtures again. Last, so that xdist's own hook has run.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        if _timed(item) and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(TIMED_GROUP))
        names = {
            str(m.args[0] if m.args else m.kwargs.get("name", "default"))
            for m in item.iter_markers("xdist_group")
        }
        if names and "@" not in item.nodeid:
            _set_nodeid(item, f"{item.nodeid}@{'_'.join(sorted(names))}")


def _set_nodeid(item: pytest.Item, nodeid: str) -> None:
    """Give ``item`` the node id ``nodeid`` (pytest 9.2 and earlier)."""
    try:
        from _pytest.nodeid import NodeId  # pytest >= 9.2
    except ImportError:  # pragma: no cover - older pytest
        item._nodeid = nodeid
    else:
        item._id = NodeId.parse(nodeid)
    assert item.nodeid == nodeid


def _timed(item: pytest.Item | None) -> bool:
    """Whether ``item`` is a ``timed`` test."""
    return item is not None and item.get_closest_marker("timed") is not None


class _Locks:
    """This worker's handles on the turnstile and the lock, opened once
    (closing a file would drop its lock), and whether it holds them."""

    turnstile: IO[str] | None = None
    lock: IO[str] | None = None
    held = False


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Iterator[None]:
    """Under pytest-xdist, hold every other test back while a ``timed``
    one runs (a readers-writer lock on files all workers share).

    A timed test measures wall-clock time or needs a solve done before
    its hard stop: it gets the machine the test run has, as it would
    in a single process. The lock covers the whole test, its fixtures
    of every scope included, so that no other worker builds a shared
    fixture meanwhile. The turnstile keeps a stream of other tests
    from starving it. A timed test followed by another keeps both
    locks for it, so that a run of timed tests waits for the other
    workers once.
    """
    if not hasattr(item.config, "workerinput"):  # not an xdist worker
        yield
        return
    if _Locks.lock is None or _Locks.turnstile is None:
        # pytest-xdist gives each worker a base temp dir in a shared one.
        shared = Path(item.config.option.basetemp).parent
        _Locks.turnstile = (shared / "timed.turnstile").open("a")
        _Locks.lock = (shared / "timed.lock").open("a")
    timed = _timed(item)
    if not _Locks.held:
        fcntl.flock(_Locks.turnstile, fcntl.LOCK_EX)
        fcntl.flock(_Locks.lock, fcntl.LOCK_EX if timed else fcntl.LOCK_SH)
        if not timed:
            fcntl.flock(_Locks.turnstile, fcntl.LOCK_UN)
    try:
        yield
    finally:
        _Locks.held = timed and _timed(nextitem)
        if not _Locks.held:
            fcntl.flock(_Locks.lock, fcntl.LOCK_UN)
            fcntl.flock(_Locks.turnstile, fcntl.LOCK_UN)


#: Allocations between young garbage collections in a test process
#: (CPython's default is 700). A worker keeps hundreds of megabytes of
#: per-session results and caches alive, and each full collection
#: traced all of them: 19-27 full collections took 3.5-4.1 s of each
#: worker's run, and all collections 4.3-5.1 s. With this threshold one
#: full collection runs, and all take 1.0-1.3 s. No test depends on
#: when cycles are collected.
YOUNG_COLLECTION_THRESHOLD = 50_000


def pytest_configure() -> None:
    """Collect garbage less often in a test process (see above)."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)


def pytest_unconfigure() -> None:
    """Leave the heap of a finished test run to the operating system.

    Tracing a worker's heap in the garbage collections of pytest's
    teardown and of the interpreter's exit took about 1.7 s per
    process, for memory the process is about to give back anyway.
    Frozen objects are never collected again (``gc.freeze``); nothing
    runs after this but pytest's own cleanup.
    """
    gc.freeze()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``case`` / ``valid_case`` over the corpus."""
    cases = corpus_cases()
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", cases, ids=[c["id"] for c in cases])
    if "valid_case" in metafunc.fixturenames:
        valid = [c for c in cases if c["contest"]["valid"]]
        metafunc.parametrize("valid_case", valid, ids=[c["id"] for c in valid])
