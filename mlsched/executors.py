"""Where batch tasks run: local processes, or Ray tasks on a cluster.

An executor runs one picklable function over a list of tasks and yields
``(index, result)`` pairs as the tasks finish, in completion order, so a
caller can stream results. Each task reserves ``cpus`` CPUs (on Ray, as
its resource request; locally, the caller sizes the pool to the cores).
A task whose worker dies (out of memory, a lost node) gets
``fallback(task, error)`` as its result, so one task cannot stop the rest.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any, Protocol, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

EXECUTORS = ("local", "ray")
INSTALL_RAY = 'pip install "mlsched[ray]"'


#: The result of a task whose worker failed, from the task and the error.
Fallback = Callable[[T, BaseException], R]


class ExecutorUnavailable(RuntimeError):
    """An executor that cannot run here (e.g. Ray is not installed)."""


class Executor(Protocol):
    """Runs ``fn`` over tasks, yielding results as they finish."""

    def map_unordered(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        cpus: int,
        fallback: Fallback[T, R],
    ) -> Iterator[tuple[int, R]]:
        """``(index, fn(tasks[index]))`` for every task, as each ends."""
        ...


class LocalExecutor:
    """Tasks in this process (``jobs=1``) or in a pool of processes.

    Parameters
    ----------
    jobs
        How many tasks run at once.
    """

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = jobs

    def map_unordered(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        cpus: int,
        fallback: Fallback[T, R],
    ) -> Iterator[tuple[int, R]]:
        """See :class:`Executor`; ``cpus`` is left to the caller here."""
        del cpus
        if self.jobs <= 1:
            for i, task in enumerate(tasks):
                yield i, fn(task)
            return
        with ProcessPoolExecutor(max_workers=self.jobs) as pool:
            futures = {pool.submit(fn, t): i for i, t in enumerate(tasks)}
            done = ((futures[f], f.result) for f in as_completed(futures))
            yield from _results(done, tasks, fallback, BrokenProcessPool)


class RayExecutor:
    """Each task a Ray task reserving ``cpus`` CPUs.

    Parameters
    ----------
    address
        The cluster to join; default ``RAY_ADDRESS``, else a local Ray
        started for the run (and stopped after it).
    num_cpus
        CPUs of a local Ray started here (default: the machine's cores).

    Raises
    ------
    ExecutorUnavailable
        If Ray is not installed.
    """

    def __init__(
        self, address: str | None = None, num_cpus: int | None = None
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ExecutorUnavailable(
                f"the ray executor needs Ray: {INSTALL_RAY}"
            ) from None
        self.ray: Any = ray
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.num_cpus = num_cpus

    def _start(self) -> bool:
        """Join or start Ray; whether this call started it."""
        if self.ray.is_initialized():
            return False
        quiet: dict[str, Any] = {
            "include_dashboard": False,
            "logging_level": logging.WARNING,
            "log_to_driver": False,
        }
        if self.address is None:
            logger.info("starting a local Ray")
            self.ray.init(num_cpus=self.num_cpus, **quiet)
        else:
            logger.info("joining the Ray cluster at %s", self.address)
            self.ray.init(address=self.address, **quiet)
        return True

    def map_unordered(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        cpus: int,
        fallback: Fallback[T, R],
    ) -> Iterator[tuple[int, R]]:
        """See :class:`Executor`."""
        started = self._start()
        try:
            remote = self.ray.remote(num_cpus=cpus)(fn)
            pending = {remote.remote(t): i for i, t in enumerate(tasks)}
            done = (
                (pending[ref], partial(self.ray.get, ref))
                for ref in self._finished(pending)
            )
            lost = self.ray.exceptions.RayError
            yield from _results(done, tasks, fallback, lost)
        finally:
            if started:
                self.ray.shutdown()

    def _finished(self, refs: Iterable[Any]) -> Iterator[Any]:
        """Each of the task references ``refs`` as its task ends."""
        left = list(refs)
        while left:
            done, left = self.ray.wait(left, num_returns=1)
            yield from done


def _results(
    finished: Iterable[tuple[int, Callable[[], R]]],
    tasks: Sequence[T],
    fallback: Fallback[T, R],
    lost: type[BaseException],
) -> Iterator[tuple[int, R]]:
    """``(index, result)`` for each ``(index, get)`` of ``finished`` (in
    completion order): what ``get()`` returns, or ``fallback(task,
    error)`` where it raises ``lost``, the error of a dead worker."""
    for i, get in finished:
        try:
            result = get()
        except lost as exc:
            result = fallback(tasks[i], exc)
        yield i, result


def make_executor(
    name: str,
    jobs: int = 1,
    address: str | None = None,
    num_cpus: int | None = None,
) -> Executor:
    """The executor called ``name`` (one of :data:`EXECUTORS`).

    Raises
    ------
    ValueError
        For an unknown name, or ``address`` with the local executor.
    ExecutorUnavailable
        If the executor's package is not installed.
    """
    if name == "local":
        if address is not None:
            raise ValueError("a cluster address needs the ray executor")
        return LocalExecutor(jobs)
    if name == "ray":
        return RayExecutor(address, num_cpus)
    raise ValueError(f"executor must be one of {EXECUTORS}, not {name!r}")
