"""The decision variables of the column model."""

from __future__ import annotations

from dataclasses import dataclass

from ortools.sat.python import cp_model

from mlsched.model import Problem
from mlsched.solver.columns import Column


@dataclass
class Variables:
    """All CP-SAT variables of the column model, by role.

    Attributes
    ----------
    select
        ``select[c]``: column c is a subgraph of the schedule.
    position
        ``position[o]``: the position of the subgraph holding op o.
    leads
        ``leads[o]``: op o is the first op of a selected column.
    slot
        ``slot[o]``: the position of op o's subgraph if o leads it, else
        the unique dummy value ``num_ops + o``; all different, so no two
        subgraphs share a position.
    retained
        ``retained[t]``: tensor t is kept in fast memory from its
        producer's subgraph into the next one.
    """

    select: list[cp_model.IntVar]
    position: list[cp_model.IntVar]
    leads: list[cp_model.IntVar]
    slot: list[cp_model.IntVar]
    retained: dict[int, cp_model.IntVar]


def make_variables(
    model: cp_model.CpModel, problem: Problem, columns: list[Column]
) -> Variables:
    """Create every variable, each with a name."""
    horizon = problem.num_ops - 1
    select = [model.new_bool_var(f"select[{c}]") for c in range(len(columns))]
    position = [
        model.new_int_var(0, horizon, f"position[{o}]")
        for o in range(problem.num_ops)
    ]
    n = problem.num_ops
    leads = [model.new_bool_var(f"leads[{o}]") for o in range(n)]
    slot = [
        model.new_int_var_from_domain(
            cp_model.Domain.from_intervals([[0, horizon], [n + o, n + o]]),
            f"slot[{o}]",
        )
        for o in range(n)
    ]
    tensors = sorted(
        {t for col in columns for t in (*col.retain_in, *col.retain_out)}
    )
    retained = {t: model.new_bool_var(f"retained[{t}]") for t in tensors}
    return Variables(select, position, leads, slot, retained)
