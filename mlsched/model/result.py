"""What a solve returns."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from mlsched.model.bounds import meets, relative_gap
from mlsched.model.solution import Solution
from mlsched.model.types import Method, Rules

#: Called with each improving solution, its latency and the best bound
#: known then (a bound over the columns, or None).
ImprovementCallback = Callable[[Solution, float, "float | None"], None]


class SolveStatus(str, Enum):
    """How a solve ended.

    ``OPTIMAL``: proven optimal over every valid schedule: the latency
    meets the proven lower bound (any method; see
    ``Result.proven_optimal``). ``COLUMN_OPTIMAL``: CP-SAT proved the
    schedule optimal over the columns it enumerated; schedules outside
    them may be better. ``FEASIBLE``: a valid schedule without a proof.
    ``INFEASIBLE``: no valid schedule can exist (e.g. an op fits at no
    granularity). ``UNKNOWN``: no schedule found in time.
    ``MODEL_INVALID``: the solver rejected its own model (a bug; the
    heuristic's schedule is returned if there is one).
    """

    OPTIMAL = "optimal"
    COLUMN_OPTIMAL = "column_optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNKNOWN = "unknown"
    MODEL_INVALID = "model_invalid"


#: What a status proves, as the summary line says it.
STATUS_NOTES = {
    SolveStatus.OPTIMAL: " (proven over all valid schedules)",
    SolveStatus.COLUMN_OPTIMAL: (
        " (optimal over the enumerated columns only, not proven over all"
        " schedules)"
    ),
}


@dataclass(frozen=True)
class Result:
    """The outcome of :func:`mlsched.solve`.

    Attributes
    ----------
    status
        How the solve ended.
    method
        ``"cpsat"``, ``"heuristic"`` or ``"naive"``.
    rules
        The rule profile the schedule is valid under.
    objective
        Total latency of ``solution``, re-computed by ``evaluate``; ``inf``
        without a solution.
    solution
        The best schedule found, or ``None``.
    runtime
        Wall-clock seconds.
    column_bound
        CP-SAT's lower bound over the enumerated columns only (schedules
        outside them may be better); the proven ``lower_bound`` when the
        start schedule meets it and CP-SAT is skipped; else ``None``.
    source
        Which stage produced ``solution``: ``"heuristic"``, ``"naive"``,
        ``"cpsat"`` (a CP-SAT search of columns or of a window),
        ``"recompute"`` (the recomputation pass of a CP-SAT solve), or
        ``"initial"`` for a given initial schedule.
    heuristic_objective
        The list scheduler's latency, when it ran.
    message
        Why there is no solution, or other notes.
    lower_bound
        A proven lower bound on the latency of every valid schedule
        (:func:`mlsched.model.bounds.lower_bound`), or ``None``.
    cut_short
        Whether the wall-clock limit stopped a deterministic solve before
        its counted budget ran out: another run of the same problem,
        seed and limit may then return a different schedule.
    """

    status: SolveStatus
    method: Method
    rules: Rules
    objective: float
    solution: Solution | None
    runtime: float
    column_bound: float | None = None
    source: str | None = None
    heuristic_objective: float | None = None
    message: str = ""
    lower_bound: float | None = None
    cut_short: bool = False

    @classmethod
    def infeasible(
        cls, method: Method, rules: Rules, runtime: float, message: str
    ) -> Result:
        """The result when no valid schedule can exist."""
        return cls(
            status=SolveStatus.INFEASIBLE,
            method=method,
            rules=rules,
            objective=math.inf,
            solution=None,
            runtime=runtime,
            message=message,
        )

    def marked_cut_short(self) -> Result:
        """This result of a deterministic solve that the wall-clock limit
        stopped, saying so in its message."""
        return replace(
            self,
            cut_short=True,
            message=f"{self.message} (the time limit cut this "
            "deterministic run short: it may not be reproducible)",
        )

    def with_lower_bound(self, lower_bound: float) -> Result:
        """This result with ``lower_bound``, optimal if it meets it."""
        result = replace(self, lower_bound=lower_bound)
        if result.proven_optimal:
            result = replace(result, status=SolveStatus.OPTIMAL)
        return result

    @property
    def proven_optimal(self) -> bool:
        """Whether the latency meets the proven lower bound."""
        return self.solution is not None and meets(
            self.objective, self.lower_bound
        )

    @property
    def lower_bound_gap(self) -> float | None:
        """Relative gap ``(objective - lower_bound) / objective``."""
        return relative_gap(self.objective, self.lower_bound)

    @property
    def column_gap(self) -> float | None:
        """Relative gap ``(objective - column_bound) / objective``."""
        return relative_gap(self.objective, self.column_bound)

    @property
    def feasible(self) -> bool:
        """Whether a valid schedule was found."""
        return self.solution is not None

    def summary(self) -> str:
        """A short human-readable report."""
        lines = [
            f"method     {self.method} ({self.rules} rules)",
            f"status     {self.status.value}"
            + STATUS_NOTES.get(self.status, ""),
        ]
        if self.solution is not None:
            lines.append(
                f"objective  {self.objective:,.1f} "
                f"({self.solution.num_subgraphs} subgraphs, from "
                f"{self.source})"
            )
        if self.heuristic_objective is not None and self.method == "cpsat":
            lines.append(f"heuristic  {self.heuristic_objective:,.1f}")
        if self.column_bound is not None:
            gap = self.column_gap
            gap_text = f" (gap {gap:.2%})" if gap is not None else ""
            lines.append(
                f"column lb  {self.column_bound:,.1f}{gap_text} over the "
                "enumerated columns only"
            )
        if self.lower_bound is not None and self.solution is not None:
            proof = (
                "met: the schedule is optimal"
                if self.proven_optimal
                else f"gap {self.lower_bound_gap:.2%}"
            )
            lines.append(
                f"proven lb  {self.lower_bound:,.1f} ({proof}) over all "
                "valid schedules"
            )
        lines.append(f"runtime    {self.runtime:.2f} s")
        if self.message:
            lines.append(f"note       {self.message}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (without the schedule itself)."""
        finite = math.isfinite(self.objective)
        return {
            "status": self.status.value,
            "method": self.method,
            "rules": self.rules,
            "objective": self.objective if finite else None,
            "column_bound": self.column_bound,
            "column_gap": self.column_gap,
            "lower_bound": self.lower_bound,
            "proven_optimal": self.proven_optimal,
            "source": self.source,
            "heuristic_objective": self.heuristic_objective,
            "runtime": self.runtime,
            "subgraphs": (
                self.solution.num_subgraphs if self.solution else None
            ),
            "message": self.message,
            "cut_short": self.cut_short,
        }
