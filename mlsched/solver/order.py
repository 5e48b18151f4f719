"""Ordering a selection of columns, or the columns that forbid it.

A selection covering every op once, with each retained tensor given by
one column and taken by one whose P is exactly the giver's R, is a
schedule if its columns can be ordered: producers no later than
consumers, and every taker right after its giver. Givers and takers form
chains that run as blocks; the selection can be ordered iff no chain
needs a later member before an earlier one and the graph of chains is
acyclic.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from mlsched.heuristics import DependencyAnalyzer
from mlsched.model import Problem
from mlsched.solver.columns import Column


@dataclass(frozen=True)
class Ordering:
    """The outcome of ordering a selection.

    Attributes
    ----------
    order
        Column indices in execution order, or None if none exists.
    conflict
        When there is no order: selected columns that no schedule can
        hold all together (a cut on the selection); else empty.
    """

    order: tuple[int, ...] | None
    conflict: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Chains:
    """Chains of a selection: members in order, and where each column is."""

    members: list[list[int]]
    chain_of: dict[int, int]
    index: dict[int, int]


@dataclass(frozen=True, eq=False)
class Orderer:
    """Orders selections of a fixed column set.

    Attributes
    ----------
    problem
        The problem.
    columns
        The columns the selections index.
    ops
        The ops the selections cover (default: all); edges from or to
        other ops are outside the selection and ignored.
    """

    problem: Problem
    columns: Sequence[Column]
    ops: Iterable[int] | None = None

    @cached_property
    def edges(self) -> list[tuple[int, int]]:
        """The data edges ``(producer, consumer)`` between covered ops."""
        inside = self.problem.scope(self.ops)
        return [
            (o, c)
            for o, c, _ in DependencyAnalyzer(self.problem).edges()
            if o in inside and c in inside
        ]

    def order(self, chosen: Sequence[int]) -> Ordering:
        """An order of the chosen columns, or a conflict among them."""
        chains = self._chains(chosen)
        if isinstance(chains, Ordering):
            return chains
        col_of = {o: c for c in chosen for o in self.columns[c].ops}
        succ: list[dict[int, tuple[int, int]]] = [{} for _ in chains.members]
        for o, d in self.edges:
            a, b = col_of[o], col_of[d]
            if a == b:
                continue
            x, y = chains.chain_of[a], chains.chain_of[b]
            if x == y:
                if chains.index[a] > chains.index[b]:
                    lo, hi = chains.index[b], chains.index[a]
                    return Ordering(
                        None, tuple(chains.members[x][lo : hi + 1])
                    )
                continue
            succ[x].setdefault(y, (a, b))
        return _topological(chains, succ)

    def _chains(self, chosen: Sequence[int]) -> _Chains | Ordering:
        """The giver-taker chains, or a conflict if they are malformed."""
        cols = self.columns
        taker_of: dict[int, int] = {}
        for c in chosen:
            for t in cols[c].retain_in:
                taker_of[t] = c
        nxt: dict[int, int] = {}
        for c in chosen:
            takers = {taker_of.get(t) for t in cols[c].retain_out}
            if not takers:
                continue
            if len(takers) != 1 or None in takers:
                group = [c, *(t for t in takers if t is not None)]
                return Ordering(None, tuple(group))
            nxt[c] = takers.pop()  # type: ignore[assignment]
        heads = [c for c in chosen if c not in set(nxt.values())]
        members: list[list[int]] = []
        for head in heads:
            chain = [head]
            while chain[-1] in nxt:
                chain.append(nxt[chain[-1]])
            members.append(chain)
        placed = {c for chain in members for c in chain}
        if len(placed) != len(chosen):  # a ring of givers and takers
            return Ordering(None, tuple(c for c in chosen if c not in placed))
        chain_of = {c: i for i, chain in enumerate(members) for c in chain}
        index = {c: k for chain in members for k, c in enumerate(chain)}
        return _Chains(members, chain_of, index)


def _topological(
    chains: _Chains, succ: list[dict[int, tuple[int, int]]]
) -> Ordering:
    """Chains in topological order, or the columns of a cycle."""
    n = len(chains.members)
    indegree = [0] * n
    for out in succ:
        for y in out:
            indegree[y] += 1
    ready = sorted(x for x in range(n) if indegree[x] == 0)
    done: list[int] = []
    while ready:
        x = ready.pop()
        done.append(x)
        for y in sorted(succ[x]):
            indegree[y] -= 1
            if indegree[y] == 0:
                ready.append(y)
    if len(done) == n:
        return Ordering(tuple(c for x in done for c in chains.members[x]))
    return Ordering(None, _cycle_columns(chains, succ, set(done)))


def _cycle_columns(
    chains: _Chains, succ: list[dict[int, tuple[int, int]]], done: set[int]
) -> tuple[int, ...]:
    """The columns a cycle of chains rests on.

    Every chain left after the topological sort has a predecessor among
    those left; walking predecessors from any one closes a cycle. Per
    chain on it, the members between where the cycle enters and leaves
    it are bound together by retention, so all those columns together
    can never be ordered.
    """
    left = [x for x in range(len(chains.members)) if x not in done]
    pred: dict[int, int] = {}
    for x in left:
        for y in sorted(succ[x]):
            if y not in done:
                pred.setdefault(y, x)
    walk = [left[0]]
    seen = {left[0]: 0}
    while pred[walk[-1]] not in seen:
        seen[pred[walk[-1]]] = len(walk)
        walk.append(pred[walk[-1]])
    # walk runs backwards: reverse the closed part into a forward cycle.
    back = walk[seen[pred[walk[-1]]] :]
    cycle = [*back[::-1], back[-1]]
    out: set[int] = set()
    for x, y in itertools.pairwise(cycle):
        a, b = succ[x][y]
        out.update((a, b))
    for x in cycle[:-1]:
        inside = [c for c in out if chains.chain_of[c] == x]
        ks = [chains.index[c] for c in inside]
        out.update(chains.members[x][min(ks) : max(ks) + 1])
    return tuple(sorted(out))
