"""The constraint families of the column model, one function each."""

from __future__ import annotations

from collections.abc import Iterable

from ortools.sat.python import cp_model

from mlsched.model import Problem
from mlsched.solver.columns import Column
from mlsched.solver.variables import Selection, Variables


def add_coverage(
    model: cp_model.CpModel,
    columns: list[Column],
    v: Selection,
    ops: Iterable[int],
) -> None:
    """Every op of ``ops`` lies in exactly one selected column."""
    holding: dict[int, list[cp_model.IntVar]] = {o: [] for o in ops}
    for c, col in enumerate(columns):
        for o in col.ops:
            holding[o].append(v.select[c])
    for o, lits in holding.items():
        model.add_exactly_one(lits).with_name(f"cover[{o}]")


def add_positions(
    model: cp_model.CpModel, columns: list[Column], v: Variables
) -> None:
    """A selected column's ops share its position; positions differ."""
    lead_of: list[list[cp_model.IntVar]] = [[] for _ in v.position]
    for c, col in enumerate(columns):
        head = v.position[col.ops[0]]
        lead_of[col.ops[0]].append(v.select[c])
        for o in col.ops[1:]:
            model.add(v.position[o] == head).only_enforce_if(v.select[c])
    n = len(v.position)
    for o, lits in enumerate(lead_of):
        model.add(v.leads[o] == sum(lits)).with_name(f"lead[{o}]")
        model.add(v.slot[o] == v.position[o]).only_enforce_if(v.leads[o])
        model.add(v.slot[o] == n + o).only_enforce_if(~v.leads[o])
    model.add_all_different(v.slot)


def add_precedence(
    model: cp_model.CpModel, problem: Problem, v: Variables
) -> None:
    """Producers run no later than consumers.

    Two selected columns never share a position, so ``>=`` is strict
    between different subgraphs and allows a fused edge.
    """
    for o, outs in enumerate(problem.outputs):
        for t in outs:
            for c in problem.consumers[t]:
                model.add(v.position[c] >= v.position[o]).with_name(
                    f"precede[{o},{c}]"
                )


def add_pairing(
    model: cp_model.CpModel, columns: list[Column], v: Selection
) -> None:
    """Each retained tensor has one giver and one taker, which match.

    A column retaining t is selected iff a column receiving t is. The
    taker of t runs right after the giver, so its P must be exactly the
    giver's R: a giver and a taker of t whose sets differ exclude each
    other.
    """
    gives: dict[int, list[int]] = {t: [] for t in v.retained}
    takes: dict[int, list[int]] = {t: [] for t in v.retained}
    for c, col in enumerate(columns):
        for t in col.retain_out:
            gives[t].append(c)
        for t in col.retain_in:
            takes[t].append(c)
    for t, flag in v.retained.items():
        model.add(sum(v.select[c] for c in gives[t]) == flag).with_name(
            f"retain_out[{t}]"
        )
        model.add(sum(v.select[c] for c in takes[t]) == flag).with_name(
            f"retain_in[{t}]"
        )
        for a in gives[t]:
            for b in takes[t]:
                if columns[a].retain_out != columns[b].retain_in:
                    model.add_bool_or([~v.select[a], ~v.select[b]]).with_name(
                        f"retain_match[{t},{a},{b}]"
                    )


def add_adjacency(
    model: cp_model.CpModel,
    problem: Problem,
    columns: list[Column],
    v: Variables,
) -> None:
    """A selected taker of a retained tensor sits one position after the
    tensor's producer: it is the next subgraph. (mlsched's own takers
    hold every reader; a given schedule's need not under the contest
    rules, SPEC §8 item 5, and then only precedence binds the others.)
    """
    for c, col in enumerate(columns):
        for t in col.retain_in:
            src = problem.producer[t]
            model.add(
                v.position[col.ops[0]] == v.position[src] + 1
            ).only_enforce_if(v.select[c]).with_name(f"adjacent[{t},{c}]")
