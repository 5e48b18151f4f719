"""The quality-gap report: a schedule beside mlsched's best and the bounds.

The subject of the report is the user's schedule when one is given, else
mlsched's list scheduler. Gaps are relative to the subject's latency,
``(latency - reference) / latency``, and signed: a schedule can beat
mlsched's best, and even the CP-SAT bound, which holds over mlsched's
columns only; no valid schedule beats the proven lower bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mlsched.model import Evaluation, Problem
from mlsched.model.bounds import compute_floor, io_floor, meets
from mlsched.model.result import Result
from mlsched.model.types import Rules

_RULE = "-" * 56


def signed_gap(latency: float, reference: float | None) -> float | None:
    """``(latency - reference) / latency``, negative below ``reference``."""
    if reference is None or not math.isfinite(latency) or latency <= 0:
        return None
    return (latency - reference) / latency


@dataclass(frozen=True)
class GapReport:
    """mlsched's schedules, bounds and floors for one problem, and the
    user's schedule (``mine``) if given.

    Attributes
    ----------
    name
        The problem as the user named it.
    naive, heuristic, cpsat
        mlsched's three results (``cpsat`` within ``time_limit``).
    mine
        The evaluation of the user's schedule (valid), or ``None``.
    mine_label
        Where the user's schedule came from, for the table.
    """

    name: str
    rules: Rules
    ops: int
    time_limit: float
    naive: Result
    heuristic: Result
    cpsat: Result
    compute_floor: float
    io_floor: float
    mine: Evaluation | None = None
    mine_label: str = "your schedule"

    @property
    def best(self) -> float:
        """The best latency mlsched found (the user's not counted)."""
        return min(
            r.objective for r in (self.naive, self.heuristic, self.cpsat)
        )

    @property
    def column_bound(self) -> float | None:
        """CP-SAT's bound over its columns, if it has one."""
        return self.cpsat.column_bound

    @property
    def lower_bound(self) -> float | None:
        """The lower bound proven over every valid schedule."""
        return self.heuristic.lower_bound

    @property
    def subject(self) -> float:
        """The latency the gaps are of: the user's, else the heuristic's."""
        if self.mine is not None:
            return self.mine.total_latency
        return self.heuristic.objective

    def gaps(self) -> dict[str, float | None]:
        """The subject's signed gaps to the best, the column bound and
        the proven lower bound."""
        return {
            "to_best": signed_gap(self.subject, self.best),
            "to_column_bound": signed_gap(self.subject, self.column_bound),
            "to_lower_bound": signed_gap(self.subject, self.lower_bound),
        }

    def shares(self) -> list[dict[str, Any]]:
        """Per subgraph of the user's schedule: ops, bottleneck, latency
        and share of the total."""
        if self.mine is None:
            return []
        total = self.mine.total_latency
        return [
            {
                "index": s.index,
                "ops": list(s.ops),
                "bottleneck": s.cost.bottleneck,
                "latency": s.latency,
                "share": s.latency / total if total > 0 else 0.0,
            }
            for s in self.mine.subgraphs
        ]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every number in the report."""
        return {
            "problem": self.name,
            "rules": self.rules,
            "ops": self.ops,
            "time_limit": self.time_limit,
            "subject": "yours" if self.mine is not None else "heuristic",
            "latencies": {
                "yours": self.mine.total_latency if self.mine else None,
                "naive": self.naive.objective,
                "heuristic": self.heuristic.objective,
                "cpsat": self.cpsat.objective,
            },
            "best": self.best,
            "column_bound": self.column_bound,
            "lower_bound": self.lower_bound,
            "compute_floor": self.compute_floor,
            "io_floor": self.io_floor,
            "gaps": self.gaps(),
            "subgraphs": self.shares(),
        }

    def text(self) -> str:
        """The report as the CLI prints it, without the breakdown of
        :meth:`shares`."""
        return "\n".join(
            [*self._latencies(), *self._bounds(), *self._gap_lines()]
        )

    def _latencies(self) -> list[str]:
        rows = [
            ("naive (one op per subgraph)", self.naive.objective),
            ("list scheduler", self.heuristic.objective),
            (f"CP-SAT ({self.time_limit:g} s)", self.cpsat.objective),
        ]
        if self.mine is not None:
            rows.insert(0, (self.mine_label, self.mine.total_latency))
        lines = [
            f"{self.name} ({self.rules} rules, {self.ops} ops)",
            f"{'schedule':<30} {'latency':>15} {'vs best':>9}",
        ]
        lines += [
            f"{label[:30]:<30} {value:>15,.1f} {value / self.best - 1:>9.2%}"
            for label, value in rows
        ]
        return [*lines, _RULE]

    def _bounds(self) -> list[str]:
        rows = [
            ("column lb (CP-SAT columns)", self.column_bound),
            ("proven lower bound (all)", self.lower_bound),
            ("compute floor", self.compute_floor),
            ("I/O floor", self.io_floor),
        ]
        lines = [
            f"{label:<30} {value:>15,.1f}"
            for label, value in rows
            if value is not None
        ]
        return [*lines, _RULE]

    def _gap_lines(self) -> list[str]:
        who = "your" if self.mine is not None else "heuristic"
        gaps = self.gaps()
        to_columns, to_lb = gaps["to_column_bound"], gaps["to_lower_bound"]
        rows = [("best found", gaps["to_best"], "")]
        if to_columns is not None:
            below = " (below it: outside mlsched's columns)"
            rows.append(
                ("column lb", to_columns, below if to_columns < 0 else "")
            )
        if to_lb is not None:
            met = meets(self.subject, self.lower_bound)
            rows.append(
                ("proven lb", to_lb, " (proven optimal)" if met else "")
            )
        lines = [
            f"{f'{who} gap to {what}:':<31}{gap:.2%}{note}"
            for what, gap, note in rows
            if gap is not None
        ]
        lines.append(
            f"{'speedup of best over naive:':<31}"
            f"{self.naive.objective / self.best:.3f}x"
        )
        return lines


def gap_report(
    problem: Problem,
    name: str,
    rules: Rules = "strict",
    time_limit: float = 10.0,
    num_workers: int | None = None,
    seed: int = 0,
    mine: Evaluation | None = None,
    mine_label: str = "your schedule",
) -> GapReport:
    """Solve ``problem`` three ways and gather the bounds for a report.

    Parameters
    ----------
    mine
        The evaluation of the user's schedule; must be valid.

    Raises
    ------
    ValueError
        If ``mine`` is an invalid schedule.
    """
    from mlsched.solve import solve

    if mine is not None and not mine.valid:
        raise ValueError(f"invalid schedule [{mine.category}]: {mine.message}")
    return GapReport(
        name=name,
        rules=rules,
        ops=problem.num_ops,
        time_limit=time_limit,
        naive=solve(problem, method="naive", rules=rules),
        heuristic=solve(problem, method="heuristic", rules=rules),
        cpsat=solve(
            problem,
            method="cpsat",
            rules=rules,
            time_limit=time_limit,
            num_workers=num_workers,
            seed=seed,
        ),
        compute_floor=compute_floor(problem),
        io_floor=io_floor(problem),
        mine=mine,
        mine_label=mine_label,
    )
