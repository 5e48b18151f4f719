"""What a solve returns."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from mlsched.model.solution import Solution


class SolveStatus(str, Enum):
    """How a solve ended.

    ``OPTIMAL``: proven optimal over the model's columns. ``FEASIBLE``: a
    valid schedule without a proof. ``INFEASIBLE``: no valid schedule can
    exist (e.g. an op fits at no granularity). ``UNKNOWN``: no schedule
    found in time. ``MODEL_INVALID``: the solver rejected its own model (a
    bug; the heuristic's schedule is returned if there is one).
    """

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNKNOWN = "unknown"
    MODEL_INVALID = "model_invalid"


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
    bound
        A lower bound on the latency (for cpsat: over the enumerated
        columns only), or ``None``.
    source
        Which stage produced ``solution``: ``"heuristic"``, ``"naive"`` or
        ``"cpsat"``.
    heuristic_objective
        The list scheduler's latency, when it ran.
    message
        Why there is no solution, or other notes.
    """

    status: SolveStatus
    method: str
    rules: str
    objective: float
    solution: Solution | None
    runtime: float
    bound: float | None = None
    source: str | None = None
    heuristic_objective: float | None = None
    message: str = ""

    @classmethod
    def infeasible(
        cls, method: str, rules: str, runtime: float, message: str
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

    @property
    def gap(self) -> float | None:
        """Relative gap ``(objective - bound) / objective``, if known."""
        if self.bound is None or not math.isfinite(self.objective):
            return None
        if self.objective <= 0:
            return 0.0
        return max(0.0, (self.objective - self.bound) / self.objective)

    @property
    def feasible(self) -> bool:
        """Whether a valid schedule was found."""
        return self.solution is not None

    def summary(self) -> str:
        """A short human-readable report."""
        lines = [
            f"method     {self.method} ({self.rules} rules)",
            f"status     {self.status.value}",
        ]
        if self.solution is not None:
            lines.append(
                f"objective  {self.objective:,.1f} "
                f"({self.solution.num_subgraphs} subgraphs, from "
                f"{self.source})"
            )
        if self.heuristic_objective is not None and self.method == "cpsat":
            lines.append(f"heuristic  {self.heuristic_objective:,.1f}")
        if self.bound is not None:
            gap = self.gap
            gap_text = f" (gap {gap:.2%})" if gap is not None else ""
            lines.append(f"bound      {self.bound:,.1f}{gap_text}")
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
            "bound": self.bound,
            "gap": self.gap,
            "source": self.source,
            "heuristic_objective": self.heuristic_objective,
            "runtime": self.runtime,
            "subgraphs": (
                self.solution.num_subgraphs if self.solution else None
            ),
            "message": self.message,
        }
