"""Columns: candidate subgraphs with their exact cost.

A subgraph's latency depends only on its ops, its granularity and
traversal, the tensors retained into it (P) and the tensors it retains
(R). A column fixes (ops, P, R) and carries the best granularity for that
context, so the fast-memory capacity (working set plus the size of P) is
settled inside the column and the master model only picks, orders and
links columns.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mlsched import clock
from mlsched.heuristics import (
    Choice,
    DependencyAnalyzer,
    GranularityOptimizer,
)
from mlsched.model import Problem, SubgraphView, view_cost
from mlsched.model.schedule import Step, retained_in
from mlsched.model.types import improves

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Column:
    """One candidate subgraph in one retention context."""

    ops: tuple[int, ...]
    retain_in: frozenset[int]
    retain_out: frozenset[int]
    choice: Choice

    @property
    def latency(self) -> float:
        """The subgraph's exact latency in this context."""
        return self.choice.latency

    def step(self) -> Step:
        """The schedule step this column stands for."""
        return Step(
            self.ops,
            self.choice.grain,
            self.choice.traversal,
            tuple(sorted(self.retain_out)),
        )


class ColumnGenerator:
    """Enumerates regions and their retention contexts.

    Regions are convex, closed (every tensor passed inside has all its
    readers inside) op sets that obey the fusion and output-shape rules:
    every single op, every group of a given schedule, and regions grown
    from every op along producer-consumer and shared-input links, keeping
    per size the ones that save the most over their single ops. Contexts
    add one retained tensor in, out, or both, where the tensor's producer
    and all its readers fit in two regions.

    Parameters
    ----------
    problem
        The problem.
    optimizer
        Granularity optimizer (its cache is shared with the heuristic).
    max_ops
        Largest grown region.
    beam
        Regions kept per seed and size.
    contexts
        Retained tensors tried per region and side.
    max_columns
        Stop adding retention contexts beyond this many columns.
    """

    def __init__(
        self,
        problem: Problem,
        optimizer: GranularityOptimizer,
        max_ops: int = 8,
        beam: int = 6,
        contexts: int = 2,
        max_columns: int | None = None,
    ) -> None:
        self.problem = problem
        self.optimizer = optimizer
        self.deps = DependencyAnalyzer(problem)
        self.max_ops = max_ops
        self.beam = beam
        self.contexts = contexts
        self.max_columns = max_columns or 2000 + 20 * problem.num_ops
        # Set when a deadline cut enumeration short (more time would help).
        self.truncated = False
        self._neighbours = self._links()

    def _links(self) -> list[set[int]]:
        nb: list[set[int]] = [set() for _ in range(self.problem.num_ops)]
        for a, b in self.deps.links:
            nb[a].add(b)
            nb[b].add(a)
        return nb

    def neighbours(self, op: int) -> set[int]:
        """Ops linked to ``op`` by a tensor: producer-consumer or a
        shared input."""
        return self._neighbours[op]

    def cost(self, ops: Iterable[int]) -> Choice | None:
        """Best choice for a region without retention."""
        return self.optimizer.best(self.deps.in_order(ops))

    def regions(
        self,
        seeds: Sequence[Sequence[int]] = (),
        deadline: float = 1e18,
        within: frozenset[int] | None = None,
    ) -> list[tuple[int, ...]]:
        """Enumerate regions (each a topologically sorted op tuple).

        ``within`` keeps every region inside that op set (a window of a
        large-neighbourhood round); ``deadline`` is a
        :func:`mlsched.clock.now` instant.
        """
        p = self.problem
        inside = frozenset(range(p.num_ops)) if within is None else within
        # Region -> saving over its single ops (inf: always kept first).
        found: dict[frozenset[int], float] = {}
        single = {}
        for o in sorted(inside):
            choice = self.cost([o])
            if choice is not None:
                single[o] = choice.latency
                found[frozenset([o])] = math.inf
        for group in seeds:
            if not inside.issuperset(group):
                continue
            choice = self.cost(group)
            if choice is not None:
                found[frozenset(group)] = math.inf
        order = sorted(inside, key=lambda o: -self.deps.depth[o])
        for seed in order:
            if clock.now() > deadline:
                logger.info("region growth stopped by the time budget")
                self.truncated = True
                break
            if seed not in single:
                continue
            layer = [frozenset([seed])]
            for _ in range(self.max_ops - 1):
                if clock.now() > deadline:
                    break
                grown: dict[frozenset[int], float] = {}
                for region in layer:
                    if clock.now() > deadline:
                        break
                    for n in set().union(
                        *(self._neighbours[o] for o in region)
                    ):
                        if n in region or n not in inside:
                            continue
                        cand = region | {n}
                        if cand in grown:
                            continue
                        if cand in found:
                            grown[cand] = found[cand]
                            continue
                        saving = self._saving(cand, single)
                        if saving is None:
                            continue
                        grown[cand] = saving
                        # Unprofitable regions only serve as stepping
                        # stones for growth; as columns they never pay.
                        if saving > 0:
                            found[cand] = saving
                layer = sorted(grown, key=lambda r: -grown[r])[: self.beam]
                if not layer:
                    break
        ranked = sorted(found, key=lambda r: -found[r] / max(1, len(r)))
        return [self.deps.in_order(r) for r in ranked]

    def _saving(
        self, region: frozenset[int], single: dict[int, float]
    ) -> float | None:
        if any(o not in single for o in region):
            return None
        if not self.deps.is_closed(region) or not self.deps.is_convex(region):
            return None
        choice = self.cost(region)
        if choice is None:
            return None
        return sum(single[o] for o in region) - choice.latency

    def columns(
        self,
        regions: Iterable[tuple[int, ...]],
        required: Sequence[Column] = (),
        deadline: float = 1e18,
    ) -> list[Column]:
        """Columns for every region in every useful retention context."""
        p = self.problem
        regions = list(dict.fromkeys(regions))
        out: dict[
            tuple[tuple[int, ...], frozenset[int], frozenset[int]], Column
        ] = {}
        for col in required:
            out[(col.ops, col.retain_in, col.retain_out)] = col
        none: frozenset[int] = frozenset()
        for ops in regions:
            self._add(out, ops, none, none)
        # Retention candidates: tensor t with its producer in one region and
        # all its readers in another (in both profiles: a later reader
        # would load a tensor that was never written back).
        holds_all: dict[int, list[tuple[int, ...]]] = {}
        makes: dict[int, list[tuple[int, ...]]] = {}
        for ops in regions:
            opset = set(ops)
            for o in ops:
                for t in p.outputs[o]:
                    if self.deps.may_retain(t, opset):
                        makes.setdefault(t, []).append(ops)
            for t in {t for o in ops for t in p.inputs[o]}:
                src = p.producer.get(t)
                if src is None or src in opset:
                    continue
                if all(c in opset for c in p.consumers[t]):
                    holds_all.setdefault(t, []).append(ops)
        tensors = [t for t in makes if t in holds_all]
        r_of: dict[tuple[int, ...], list[int]] = {}
        p_of: dict[tuple[int, ...], list[int]] = {}
        for t in tensors:
            for ops in makes[t]:
                r_of.setdefault(ops, []).append(t)
            for ops in holds_all[t]:
                p_of.setdefault(ops, []).append(t)
        sizes = p.sizes
        for ops in regions:
            if clock.now() > deadline or len(out) >= self.max_columns:
                logger.info(
                    "context enumeration stopped at %d columns", len(out)
                )
                self.truncated |= clock.now() > deadline
                break
            # The smallest tensors are the likeliest to fit beside the
            # working set; a few per side keep the model small.
            pins = sorted(p_of.get(ops, ()), key=sizes.__getitem__)
            routs = sorted(r_of.get(ops, ()), key=sizes.__getitem__)
            ins = [none] + [frozenset([t]) for t in pins[: self.contexts]]
            outs = [none] + [frozenset([t]) for t in routs[: self.contexts]]
            for pin in ins:
                for rout in outs:
                    if pin or rout:
                        self._add(out, ops, pin, rout)
        return list(out.values())

    def _add(
        self,
        out: dict[
            tuple[tuple[int, ...], frozenset[int], frozenset[int]], Column
        ],
        ops: tuple[int, ...],
        retain_in: frozenset[int],
        retain_out: frozenset[int],
    ) -> None:
        key = (ops, retain_in, retain_out)
        if key in out:
            return
        choice = self.optimizer.best(ops, retain_in, retain_out)
        if choice is not None:
            out[key] = Column(ops, retain_in, retain_out, choice)


def refine(
    columns: Sequence[Column],
    fine: GranularityOptimizer,
    deadline: float = 1e18,
) -> list[Column]:
    """Columns with their granularity re-chosen among fine tile sizes.

    Refines around each column's power-of-two choice, cheapest columns
    per op first, until ``deadline`` (a :func:`mlsched.clock.now`
    instant); columns not reached keep their choice.
    """
    order = sorted(
        range(len(columns)),
        key=lambda i: columns[i].latency / len(columns[i].ops),
    )
    out = list(columns)
    for n, i in enumerate(order):
        if clock.now() > deadline:
            logger.info("refined %d of %d columns", n, len(columns))
            break
        col = columns[i]
        choice = fine.best(
            col.ops, col.retain_in, col.retain_out, around=col.choice.grain
        )
        if choice is not None and improves(choice.latency, col.latency):
            out[i] = Column(col.ops, col.retain_in, col.retain_out, choice)
    return out


def schedule_columns(problem: Problem, steps: Sequence[Step]) -> list[Column]:
    """The schedule's subgraphs as columns, with their own granularity."""
    cols = []
    for s, before in zip(steps, retained_in(s.retain for s in steps)):
        retain_in, retain_out = frozenset(before), frozenset(s.retain)
        view = SubgraphView(problem, s.ops, retain_out, retain_in)
        cost = view_cost(view, s.grain, s.traversal)
        choice = Choice(s.grain, s.traversal, cost)
        cols.append(Column(s.ops, retain_in, retain_out, choice))
    return cols
