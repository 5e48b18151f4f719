"""The decision variables of the column models."""

from __future__ import annotations

from dataclasses import dataclass

from ortools.sat.python import cp_model

from mlsched.model import Problem
from mlsched.solver.columns import Column


@dataclass
class Selection:
    """The variables of the order-free master: which columns, which
    retained tensors.

    Attributes
    ----------
    select
        ``select[c]``: column c is a subgraph of the schedule.
    retained
        ``retained[t]``: tensor t is kept in fast memory from its
        producer's subgraph into the next one.
    """

    select: list[cp_model.IntVar]
    retained: dict[int, cp_model.IntVar]


@dataclass
class Variables(Selection):
    """All variables of the positional model: the selection, and where
    each subgraph runs.

    Attributes
    ----------
    position
        ``position[o]``: the position of the subgraph holding op o.
    leads
        ``leads[o]``: op o is the first op of a selected column.
    slot
        ``slot[o]``: the position of op o's subgraph if o leads it, else
        the unique dummy value ``num_ops + o``; all different, so no two
        subgraphs share a position.
    """

    position: list[cp_model.IntVar]
    leads: list[cp_model.IntVar]
    slot: list[cp_model.IntVar]


def make_selection(
    model: cp_model.CpModel, columns: list[Column]
) -> Selection:
    """Create the selection variables, each with a name."""
    select = [model.new_bool_var(f"select[{c}]") for c in range(len(columns))]
    tensors = sorted(
        {t for col in columns for t in (*col.retain_in, *col.retain_out)}
    )
    retained = {t: model.new_bool_var(f"retained[{t}]") for t in tensors}
    return Selection(select, retained)


def make_variables(
    model: cp_model.CpModel, problem: Problem, columns: list[Column]
) -> Variables:
    """Create every variable of the positional model, each with a name."""
    chosen = make_selection(model, columns)
    horizon = problem.num_ops - 1
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
    return Variables(chosen.select, chosen.retained, position, leads, slot)
