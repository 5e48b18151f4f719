"""Warm start: a complete hint from a schedule of columns."""

from __future__ import annotations

from ortools.sat.python import cp_model

from mlsched.solver.columns import Column
from mlsched.solver.variables import Selection, Variables


def hint_selection(
    model: cp_model.CpModel,
    columns: list[Column],
    v: Selection,
    chosen: list[int],
) -> None:
    """Hint the selection variables with a schedule, after clearing old
    hints.

    Parameters
    ----------
    model
        The model.
    columns
        All columns.
    v
        The model's selection variables.
    chosen
        Column indices of the schedule, in execution order; together they
        cover every op once.
    """
    model.clear_hints()  # type: ignore[no-untyped-call]
    selected = set(chosen)
    for c in range(len(columns)):
        model.add_hint(v.select[c], c in selected)
    retained = {t for c in chosen for t in columns[c].retain_out}
    for t, flag in v.retained.items():
        model.add_hint(flag, t in retained)


def set_hint(
    model: cp_model.CpModel,
    columns: list[Column],
    v: Variables,
    chosen: list[int],
) -> None:
    """Hint every variable of the positional model with a schedule (see
    :func:`hint_selection`), after clearing old hints."""
    hint_selection(model, columns, v, chosen)
    position = [0] * len(v.position)
    for pos, c in enumerate(chosen):
        for o in columns[c].ops:
            position[o] = pos
    for o, var in enumerate(v.position):
        model.add_hint(var, position[o])
    leads = {columns[c].ops[0] for c in chosen}
    n = len(v.position)
    for o in range(n):
        model.add_hint(v.leads[o], o in leads)
        model.add_hint(v.slot[o], position[o] if o in leads else n + o)
