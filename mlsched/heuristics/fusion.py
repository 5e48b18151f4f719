"""Greedy fusion of op groups with a priority queue of candidate merges.

Each pair of groups joined by a link (a data edge or a shared read) is a
candidate merge, scored once and kept in a heap. A merge changes only the
candidates whose score read a merged group, so only those are scored
again; the rest of the heap stays valid. The merge that wins is the one
the direct greedy (rescan every link, take the best) would pick: the
largest score, ties to the first link in sorted order.

Acyclicity of the group graph is kept by a topological position per
group (Pearce and Kelly's dynamic topological order): merging the set M
creates a cycle exactly when a group reachable from M through groups
outside M also reaches M; both searches stay within M's position window,
the neighbourhood the merge can reorder, and their results give the new
positions directly.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from mlsched import clock
from mlsched.heuristics.dependency import DependencyAnalyzer
from mlsched.heuristics.granularity import Choice

#: How often (in merges) fusion looks at the clock.
CLOCK_EVERY = 8


@dataclass
class Group:
    """A set of ops fused into one subgraph, with its best latency."""

    ops: tuple[int, ...]
    latency: float


@dataclass(frozen=True)
class Candidate:
    """A scored merge: ``merged`` groups unite into ``ops``."""

    score: float
    merged: tuple[int, ...]
    ops: frozenset[int]


@dataclass(frozen=True)
class Scored:
    """A candidate (or None) and every group its score read."""

    candidate: Candidate | None
    reads: tuple[int, ...]


#: Scores the merge of two groups given the groups and the op -> group map.
Scorer = Callable[[int, int, dict[int, Group], Sequence[int]], Scored]


def deadline_passed(deadline: float | None) -> bool:
    """Whether the :func:`mlsched.clock.now` instant ``deadline`` is
    past (a virtual clock counts the check as a step of work)."""
    return deadline is not None and clock.now() >= deadline


class Fusion:
    """The state of one greedy fusion run.

    Parameters
    ----------
    deps
        The problem's dependency analysis.
    singles
        The best choice of every op alone (none may be None).
    links
        Op pairs whose groups may merge, in the order ties are broken.
    score
        Scores the merge of two groups (see :data:`Scorer`).
    choose
        The best choice for an op set.
    """

    def __init__(
        self,
        deps: DependencyAnalyzer,
        singles: Sequence[Choice],
        links: Sequence[tuple[int, int]],
        score: Scorer,
        choose: Callable[[Iterable[int]], Choice | None],
    ) -> None:
        n = len(singles)
        self.deps = deps
        self.score = score
        self.choose = choose
        self.groups = {o: Group((o,), singles[o].latency) for o in range(n)}
        self.group_of = list(range(n))
        self.pos = {o: r for o, r in deps.rank.items()}
        self.next_id = n
        self.merged_at: dict[int, int] = {}
        self.merges = itertools.count()
        # Per group: adjacent groups and the first link joining them.
        self.adj: dict[int, dict[int, int]] = {o: {} for o in range(n)}
        for i, (a, b) in enumerate(links):
            self.adj[a].setdefault(b, i)
            self.adj[b].setdefault(a, i)
        self.heap: list[tuple[float, int, int, int, int]] = []
        self.live: dict[tuple[int, int], int] = {}
        self.watchers: dict[int, set[tuple[int, int]]] = {}
        self.rejected: set[frozenset[int]] = set()
        self.serial = itertools.count()
        self.best: dict[int, Candidate] = {}

    def _score_all(self, deadline: float | None) -> bool:
        """Score every linked pair; False if ``deadline`` cut it short."""
        for a in range(len(self.group_of)):
            if a % 64 == 0 and deadline_passed(deadline):
                return False
            for b in self.adj[a]:
                if a < b:
                    self._rescore(a, b)
        return True

    # Candidates ----------------------------------------------------------

    def _rescore(self, a: int, b: int) -> None:
        """Score the pair (a, b) again and queue it if it saves."""
        key = (a, b) if a < b else (b, a)
        scored = self.score(a, b, self.groups, self.group_of)
        for g in scored.reads:
            self.watchers.setdefault(g, set()).add(key)
        cand = scored.candidate
        if cand is None or cand.ops in self.rejected:
            self.live.pop(key, None)
            return
        serial = next(self.serial)
        self.live[key] = serial
        self.best[serial] = cand
        link = self.adj[a][b]
        heapq.heappush(self.heap, (-cand.score, link, serial, *key))

    def _pop(self) -> Candidate | None:
        """The best live candidate, removed from the queue."""
        while self.heap:
            _, _, serial, a, b = heapq.heappop(self.heap)
            cand = self.best.pop(serial)
            if self.live.get((a, b)) != serial:
                continue
            del self.live[(a, b)]
            if cand.ops in self.rejected:
                continue
            return cand
        return None

    # Merging -------------------------------------------------------------

    def run(self, deadline: float | None = None) -> list[tuple[int, ...]]:
        """Merge while a merge saves; stop early at ``deadline``.

        Every intermediate partition is valid (closed, convex, acyclic,
        each group fits), so a cut-short run returns a usable one.
        """
        if not self._score_all(deadline):
            return self.result()
        merges = 0
        while True:
            if merges % CLOCK_EVERY == 0 and deadline_passed(deadline):
                break
            cand = self._pop()
            if cand is None:
                break
            new_pos = self._acyclic_positions(cand.merged)
            if new_pos is None:
                self.rejected.add(cand.ops)
                continue
            self._merge(cand, new_pos)
            merges += 1
        return self.result()

    def result(self) -> list[tuple[int, ...]]:
        """The groups: never-merged ones by id, then by merge time."""
        order = sorted(
            self.groups, key=lambda g: (self.merged_at.get(g, -1), g)
        )
        return [self.groups[g].ops for g in order]

    def _merge(self, cand: Candidate, new_pos: dict[int, int]) -> None:
        gid = self.next_id
        self.next_id += 1
        choice = self.choose(cand.ops)
        assert choice is not None
        self.groups[gid] = Group(self.deps.in_order(cand.ops), choice.latency)
        self.merged_at[gid] = next(self.merges)
        merged = set(cand.merged)
        stale: set[tuple[int, int]] = set()
        adj: dict[int, int] = {}
        for g in merged:
            del self.groups[g]
            self.merged_at.pop(g, None)
            stale |= self.watchers.pop(g, set())
            for x, link in self.adj.pop(g).items():
                self.live.pop((g, x) if g < x else (x, g), None)
                if x in merged:
                    continue
                adj[x] = min(link, adj.get(x, link))
                del self.adj[x][g]
        for x, link in adj.items():
            self.adj[x][gid] = link
        self.adj[gid] = adj
        for o in cand.ops:
            self.group_of[o] = gid
        for g in merged:
            del self.pos[g]
        self.pos[gid] = new_pos.pop(-1)
        self.pos.update(new_pos)
        pairs = {(gid, x) for x in adj}
        for a, b in stale:
            a = self.group_of_group(a, merged, gid)
            b = self.group_of_group(b, merged, gid)
            if a != b and b in self.adj.get(a, {}):
                pairs.add((a, b))
        for a, b in sorted(pairs):
            self.live.pop((a, b) if a < b else (b, a), None)
            self._rescore(a, b)

    def group_of_group(self, g: int, merged: set[int], gid: int) -> int:
        """``g`` itself, or the new group ``gid`` if ``g`` was merged."""
        return gid if g in merged else g

    # Acyclicity ----------------------------------------------------------

    def _neighbours(self, g: int, forward: bool) -> set[int]:
        """Groups with an edge from (``forward``) or into group ``g``."""
        step = self.deps.successors if forward else self.deps.predecessors
        of = self.group_of
        return {of[x] for o in self.groups[g].ops for x in step[o]} - {g}

    def _reach(self, merged: set[int], forward: bool, edge: int) -> set[int]:
        """Groups outside ``merged`` reached from it through outsiders,
        whose position lies strictly before (forward) or after ``edge``."""
        seen: set[int] = set()
        stack = [g for g in merged]
        while stack:
            g = stack.pop()
            for x in self._neighbours(g, forward):
                if x in merged or x in seen:
                    continue
                if (self.pos[x] < edge) if forward else (self.pos[x] > edge):
                    seen.add(x)
                    stack.append(x)
        return seen

    def _acyclic_positions(
        self, merged_ids: Sequence[int]
    ) -> dict[int, int] | None:
        """New positions if ``merged_ids`` can unite, None if a cycle.

        Returns positions for the groups that move, the united group's
        under key -1.
        """
        merged = set(merged_ids)
        lo = min(self.pos[g] for g in merged)
        hi = max(self.pos[g] for g in merged)
        after = self._reach(merged, True, hi)
        before = self._reach(merged, False, lo)
        if after & before:
            return None
        slots = sorted(self.pos[g] for g in (*merged, *after, *before))
        by_pos = self.pos.__getitem__
        new: dict[int, int] = {}
        for g, slot in zip(sorted(before, key=by_pos), slots):
            new[g] = slot
        new[-1] = slots[len(before)]
        tail = slots[len(slots) - len(after) :]
        for g, slot in zip(sorted(after, key=by_pos), tail):
            new[g] = slot
        return new
