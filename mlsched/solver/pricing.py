"""Column generation with prices: the LP relaxation of the order-free
master and regions grown by reduced cost.

The LP keeps the master's coverage rows (every op once), one balance row
per retained tensor (givers minus takers, zero) and the rows that keep a
giver and a taker with different retention sets apart; GLOP solves it
and its duals price candidate columns. A column's reduced cost is its
latency minus the coverage duals of its ops, minus the balance duals of
the tensors it retains, plus those of the tensors retained into it. The
pricer grows regions (up to :data:`MAX_REGION_OPS` ops along
producer-consumer and shared-input links) by reduced cost and tries
retention of up to :data:`MAX_RETAINED` tensors across each boundary
between two regions; every region is costed by the column generator's
granularity optimizer.

The LP value after pricing bounds the integer master over the final
columns from below; pricing is a heuristic search, so it is not a bound
over all schedules, nor over every column. Recomputation (an op in two
subgraphs) has no form here: the master covers each op exactly once, and
recomputation is a pass over the final schedule
(:mod:`mlsched.solver.recompute`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ortools.linear_solver import pywraplp

from mlsched import clock
from mlsched.heuristics import GranularityOptimizer
from mlsched.model import Problem
from mlsched.model.schedule import Step
from mlsched.solver.columns import Column, ColumnGenerator, refine
from mlsched.solver.order import Orderer

logger = logging.getLogger(__name__)

# Largest grown region, and regions kept per seed and size.
MAX_REGION_OPS = 16
BEAM = 4
# Most tensors retained across one boundary.
MAX_RETAINED = 3
# A column enters only if its reduced cost is below minus this share of
# its latency (GLOP's duals carry rounding noise).
TOLERANCE = 1e-7
# Columns added per pricing round at most, cheapest reduced cost first.
MAX_NEW = 200
# Columns priced at most this share of their latency above zero are
# re-costed among fine tile sizes.
MARGIN = 0.05
# How far from 0 or 1 an LP value may be and still count as integral.
INTEGRAL = 1e-6
# Grown regions, least reduced cost first, that seed retention pairs.
PAIR_REGIONS = 60
# Columns near the LP's basis whose regions seed retention pairs.
ACTIVE = 1e-9

Key = tuple[tuple[int, ...], frozenset[int], frozenset[int]]


@dataclass(frozen=True)
class Duals:
    """The prices of an LP solution of the master.

    Attributes
    ----------
    cover
        ``cover[o]``: the dual of op o's coverage row.
    retain
        ``retain[t]``: the dual of tensor t's balance row (givers minus
        takers); a tensor without a row prices at zero.
    """

    cover: Mapping[int, float]
    retain: Mapping[int, float]

    def region(self, ops: Iterable[int]) -> float:
        """The coverage price of a set of ops."""
        return sum(self.cover[o] for o in ops)

    def reduced_cost(self, col: Column) -> float:
        """The column's latency minus the prices of the rows it is in."""
        give = sum(self.retain.get(t, 0.0) for t in col.retain_out)
        take = sum(self.retain.get(t, 0.0) for t in col.retain_in)
        return col.latency - self.region(col.ops) - give + take


@dataclass(frozen=True)
class Relaxation:
    """An optimal LP solution of the master over a column set.

    Attributes
    ----------
    value
        The LP optimum: a lower bound on the integer master over the
        same columns.
    duals
        The row prices.
    values
        ``values[c]``: column c's LP value.
    """

    value: float
    duals: Duals
    values: tuple[float, ...]


def solve_relaxation(
    problem: Problem,
    columns: Sequence[Column],
    ops: Iterable[int] | None = None,
) -> Relaxation | None:
    """Solve the LP relaxation of the order-free master with GLOP.

    Parameters
    ----------
    problem
        The problem.
    columns
        Candidate subgraphs covering every op of ``ops``.
    ops
        The ops to cover (default: all).

    Returns
    -------
    Relaxation or None
        None when GLOP finds no optimum.
    """
    cover_ops = sorted(problem.scope(ops))
    lp = pywraplp.Solver.CreateSolver("GLOP")
    # Coverage already bounds every column by 1; an explicit upper bound
    # would take a dual of its own and hide it from the row prices.
    inf = lp.infinity()
    x = [lp.NumVar(0.0, inf, f"x[{c}]") for c in range(len(columns))]
    cover = {o: lp.Constraint(1.0, 1.0, f"cover[{o}]") for o in cover_ops}
    gives: dict[int, list[int]] = {}
    takes: dict[int, list[int]] = {}
    for c, col in enumerate(columns):
        for o in col.ops:
            cover[o].SetCoefficient(x[c], 1.0)
        for t in col.retain_out:
            gives.setdefault(t, []).append(c)
        for t in col.retain_in:
            takes.setdefault(t, []).append(c)
    balance = {}
    for t in sorted(set(gives) | set(takes)):
        row = lp.Constraint(0.0, 0.0, f"balance[{t}]")
        for c in gives.get(t, ()):
            row.SetCoefficient(x[c], 1.0)
        for c in takes.get(t, ()):
            row.SetCoefficient(x[c], -1.0)
        balance[t] = row
        for a, b in itertools.product(gives.get(t, ()), takes.get(t, ())):
            if columns[a].retain_out != columns[b].retain_in:
                lp.Add(x[a] + x[b] <= 1.0, f"match[{t},{a},{b}]")
    objective = lp.Objective()
    for c, col in enumerate(columns):
        objective.SetCoefficient(x[c], col.latency)
    objective.SetMinimization()
    if lp.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    duals = Duals(
        {o: row.dual_value() for o, row in cover.items()},
        {t: row.dual_value() for t, row in balance.items()},
    )
    return Relaxation(
        objective.Value(), duals, tuple(v.solution_value() for v in x)
    )


class Pricer:
    """Finds columns of negative reduced cost.

    Parameters
    ----------
    problem
        The problem.
    generator
        The column generator: its links, closure and convexity checks
        and its granularity optimizer cost every region.
    max_ops
        Largest grown region.
    beam
        Regions kept per seed and size.
    max_retained
        Most tensors retained across one boundary.
    fine
        When given, columns whose reduced cost is below :data:`MARGIN`
        of their latency are re-costed among fine tile sizes before
        pricing (:func:`~mlsched.solver.columns.refine`).
    """

    def __init__(
        self,
        problem: Problem,
        generator: ColumnGenerator,
        max_ops: int = MAX_REGION_OPS,
        beam: int = BEAM,
        max_retained: int = MAX_RETAINED,
        fine: GranularityOptimizer | None = None,
    ) -> None:
        self.problem = problem
        self.generator = generator
        self.max_ops = max_ops
        self.beam = beam
        self.max_retained = max_retained
        self.fine = fine
        self.margin = MARGIN if fine is not None else 0.0
        # Reduced cost of every region reached by the last growth.
        self._seen: dict[frozenset[int], float] = {}
        self._latency_of: dict[frozenset[int], float | None] = {}
        # Columns already re-costed among fine tile sizes.
        self._sharp: set[Key] = set()

    def price(
        self,
        columns: Sequence[Column],
        lp: Relaxation,
        deadline: float = 1e18,
        within: frozenset[int] | None = None,
    ) -> list[Column]:
        """New columns of negative reduced cost under ``lp``'s duals,
        cheapest first (at most :data:`MAX_NEW`)."""
        known = {(c.ops, c.retain_in, c.retain_out) for c in columns}
        inside = (
            frozenset(range(self.problem.num_ops))
            if within is None
            else within
        )
        found: dict[Key, tuple[float, Column]] = {}
        grown = self.grow(lp.duals, inside, deadline)
        active = {
            col.ops
            for col, v in zip(columns, lp.values, strict=True)
            if v > ACTIVE
        }
        # Retention pays only across the boundary of two cheap regions:
        # pair the least reduced-cost ones and those of the LP solution.
        cheap = sorted(grown, key=lambda r: self._seen[frozenset(r)])
        regions = list(dict.fromkeys([*cheap[:PAIR_REGIONS], *active]))
        candidates = self.plain(grown)
        candidates += self._pairs(regions, columns, deadline)
        near = [
            col
            for col in candidates
            if (col.ops, col.retain_in, col.retain_out) not in known
            and lp.duals.reduced_cost(col) < self.margin * col.latency
        ]
        if self.fine is not None:
            # Fine tile sizes only lower a latency: a column close to
            # pricing out may cross zero, a negative one stays negative.
            near = refine(near, self.fine, deadline)
        for col in near:
            rc = lp.duals.reduced_cost(col)
            if rc < -TOLERANCE * max(col.latency, 1.0):
                found[(col.ops, col.retain_in, col.retain_out)] = (rc, col)
        ranked = sorted(found.values(), key=lambda item: item[0])
        return [col for _, col in ranked[:MAX_NEW]]

    def sharpen(
        self, columns: Sequence[Column], lp: Relaxation, deadline: float
    ) -> tuple[list[Column], int]:
        """The columns, those near zero reduced cost re-costed among fine
        tile sizes (each once); and how many of them got cheaper.

        A column the LP (nearly) uses lowers the LP value as soon as it
        gets cheaper, so these are refined first.
        """
        out = list(columns)
        if self.fine is None:
            return out, 0
        picks = [
            i
            for i, col in enumerate(columns)
            if (col.ops, col.retain_in, col.retain_out) not in self._sharp
            and lp.duals.reduced_cost(col) < self.margin * col.latency
        ]
        picks.sort(key=lambda i: lp.duals.reduced_cost(columns[i]))
        refined = refine([columns[i] for i in picks], self.fine, deadline)
        better = 0
        for i, col in zip(picks, refined, strict=True):
            self._sharp.add((col.ops, col.retain_in, col.retain_out))
            if col is not columns[i]:
                out[i] = col
                better += 1
        return out, better

    def grow(
        self, duals: Duals, inside: frozenset[int], deadline: float
    ) -> list[tuple[int, ...]]:
        """Regions grown from every op by reduced cost without retention.

        Every closed region reached is a candidate; the beam keeps the
        convex ones of least reduced cost, closed or not (a tensor with
        two readers is closed in only once both are in), as stepping
        stones.
        """
        gen = self.generator
        seeds = sorted(inside, key=lambda o: -duals.cover[o])
        out: dict[frozenset[int], float] = {}
        self._seen = out
        for seed in seeds:
            layer = [frozenset([seed])]
            for _ in range(self.max_ops - 1):
                if clock.now() > deadline:
                    return [gen.deps.in_order(r) for r in out]
                reached: dict[frozenset[int], float] = {}
                for region in layer:
                    for n in set().union(*(gen.neighbours(o) for o in region)):
                        cand = region | {n}
                        if n in region or n not in inside or cand in reached:
                            continue
                        latency = self._latency(cand)
                        if latency is None:
                            continue
                        reached[cand] = latency - duals.region(cand)
                        if gen.deps.is_closed(cand):
                            out[cand] = reached[cand]
                layer = sorted(reached, key=reached.__getitem__)[: self.beam]
                if not layer:
                    break
        return [gen.deps.in_order(r) for r in out]

    def _latency(self, region: frozenset[int]) -> float | None:
        """A convex region's latency without retention, or None if it is
        not convex or no granularity fits; remembered across rounds."""
        if region not in self._latency_of:
            convex = self.generator.deps.is_convex(region)
            choice = self.generator.cost(region) if convex else None
            self._latency_of[region] = (
                None if choice is None else choice.latency
            )
        return self._latency_of[region]

    def plain(self, regions: Sequence[tuple[int, ...]]) -> list[Column]:
        """The valid regions as columns without retention."""
        none: frozenset[int] = frozenset()
        return [
            col
            for ops in regions
            if (col := self._column(ops, none, none)) is not None
        ]

    def _column(
        self,
        ops: tuple[int, ...],
        retain_in: frozenset[int],
        retain_out: frozenset[int],
    ) -> Column | None:
        choice = self.generator.optimizer.best(ops, retain_in, retain_out)
        if choice is None:
            return None
        return Column(ops, retain_in, retain_out, choice)

    def _pairs(
        self,
        regions: Sequence[tuple[int, ...]],
        columns: Sequence[Column],
        deadline: float,
    ) -> list[Column]:
        """Giver and taker columns for the tensors one region can retain
        into another, up to :attr:`max_retained` at a time; a giver keeps
        the retention into it of any column of its region, a taker the
        retention out of it (links in a chain of retention)."""
        holding: dict[int, list[tuple[int, ...]]] = {}
        for ops in regions:
            for o in ops:
                holding.setdefault(o, []).append(ops)
        none: frozenset[int] = frozenset()
        ins: dict[tuple[int, ...], set[frozenset[int]]] = {}
        outs: dict[tuple[int, ...], set[frozenset[int]]] = {}
        for col in columns:
            ins.setdefault(col.ops, {none}).add(col.retain_in)
            outs.setdefault(col.ops, {none}).add(col.retain_out)
        out: list[Column | None] = []
        for giver in regions:
            for taker, tensors in self._boundaries(giver, holding).items():
                if clock.now() > deadline:
                    break
                for kept in self._retained_sets(tensors):
                    for pin in ins.get(giver, {none}):
                        out.append(self._column(giver, pin, kept))
                    for rout in outs.get(taker, {none}):
                        out.append(self._column(taker, kept, rout))
        return [col for col in out if col is not None]

    def _boundaries(
        self,
        giver: tuple[int, ...],
        holding: Mapping[int, Sequence[tuple[int, ...]]],
    ) -> dict[tuple[int, ...], list[int]]:
        """Per region holding every reader of some tensors of ``giver``
        (and none of its ops), those tensors."""
        p = self.problem
        opset = set(giver)
        out: dict[tuple[int, ...], list[int]] = {}
        for o in giver:
            for t in p.outputs[o]:
                readers = p.consumers[t]
                if (
                    not readers
                    or opset.intersection(readers)
                    or t in p.graph_outputs
                    or p.sizes[t] >= p.fast_memory_capacity
                ):
                    continue
                for taker in holding.get(readers[0], ()):
                    if set(readers) <= set(taker) and not opset & set(taker):
                        out.setdefault(taker, []).append(t)
        return out

    def _retained_sets(self, tensors: Sequence[int]) -> list[frozenset[int]]:
        """Each tensor alone, and the smallest two and three together."""
        by_size = sorted(set(tensors), key=self.problem.sizes.__getitem__)
        sets = [frozenset([t]) for t in by_size]
        for n in range(2, min(self.max_retained, len(by_size)) + 1):
            sets.append(frozenset(by_size[:n]))
        return sets


@dataclass(frozen=True)
class Priced:
    """What column generation added.

    Attributes
    ----------
    columns
        The input columns and every priced one.
    added
        How many columns pricing added.
    rounds
        LP solves.
    bound
        The LP value over ``columns``: a lower bound on the integer
        master over them (None if no LP was solved); not a bound over
        all schedules.
    settled
        Whether the last pricing round found no negative reduced cost
        (rather than running out of time).
    schedule
        The last LP solution as a schedule, when it is integral and its
        columns can be ordered (it is then optimal over ``columns``).
    """

    columns: list[Column]
    added: int
    rounds: int
    bound: float | None
    settled: bool
    schedule: tuple[Step, ...] | None = None


def integral_schedule(
    problem: Problem,
    columns: Sequence[Column],
    lp: Relaxation,
    ops: frozenset[int] | None = None,
) -> tuple[Step, ...] | None:
    """The LP solution as a schedule of ``ops`` (default: all), if it is
    integral and orderable."""
    if any(min(v, abs(1.0 - v)) > INTEGRAL for v in lp.values):
        return None
    chosen = [c for c, v in enumerate(lp.values) if v > 0.5]
    order = Orderer(problem, columns, ops).order(chosen).order
    if order is None:
        return None
    return tuple(columns[c].step() for c in order)


def price_columns(
    problem: Problem,
    generator: ColumnGenerator,
    columns: Sequence[Column],
    deadline: float,
    fine: GranularityOptimizer | None = None,
    ops: frozenset[int] | None = None,
) -> Priced:
    """LP, price, add negative-reduced-cost columns; repeat until none
    is found or ``deadline`` (a :func:`mlsched.clock.now` instant).

    ``ops`` restricts the master to those ops (a window of a
    large-neighbourhood round): ``columns`` hold no other op, and the
    priced ones neither.

    ``fine`` re-chooses among fine tile sizes
    (:func:`~mlsched.solver.columns.refine`) the granularity of the
    columns near zero reduced cost, given and priced alike; that only
    lowers latencies, so the LP value stays a bound over the columns.
    """
    pricer = Pricer(problem, generator, fine=fine)
    cols = list(columns)
    rounds, added, sharpened, bound, settled = 0, 0, 0, None, False
    schedule = None
    while clock.now() < deadline:
        lp = solve_relaxation(problem, cols, ops)
        if lp is None:
            logger.warning("GLOP found no optimum of the master's LP")
            break
        rounds, bound = rounds + 1, lp.value
        cols, better = pricer.sharpen(cols, lp, deadline)
        if better:
            sharpened += better
            bound = None
            continue
        new = pricer.price(cols, lp, deadline, within=ops)
        if not new:
            settled = clock.now() < deadline
            schedule = integral_schedule(problem, cols, lp, ops)
            break
        cols += new
        added += len(new)
        # The last LP no longer bounds the grown column set.
        bound = None
    if bound is None and rounds:
        # Cut by the clock after adding columns: one more LP (no pricing)
        # still bounds, and may settle, the grown set.
        lp = solve_relaxation(problem, cols, ops)
        if lp is not None:
            bound = lp.value
            schedule = integral_schedule(problem, cols, lp, ops)
    logger.info(
        "pricing: %d columns added, %d re-costed cheaper in %d LP rounds, "
        "LP value %s over the columns%s",
        added,
        sharpened,
        rounds,
        "none" if bound is None else f"{bound:.1f}",
        " (no negative reduced cost left in the priced space)"
        if settled
        else " (stopped by the time budget)",
    )
    return Priced(cols, added, rounds, bound, settled, schedule)
