"""The VLIW-inspired list scheduler and the one-op-per-subgraph baseline.

A VLIW compiler forms bundles of operations that issue together, orders
them by critical path, and keeps values in registers between the bundles
that produce and consume them. Here a bundle is a subgraph, the register
file is the fast memory, and the three stages are:

1. **Fusion** (bundle formation): starting from one op per group, merge
   the pair of groups linked by a producer-consumer or shared-input edge
   whose fused subgraph saves the most latency, as long as the merged
   group stays legal: closed (every tensor passed inside it has all its
   readers inside), convex, acyclic with the other groups, and valid at
   some granularity. Intermediates inside a group become ephemeral.
2. **List scheduling**: order the groups, among the ready ones preferring
   one that can take a tensor retained from the group just scheduled,
   then the deepest critical path.
3. **Retention** (register allocation): along the order, a dynamic
   program chooses which tensors each subgraph keeps for the next one
   (a tensor whose readers all sit in the next subgraph), re-choosing
   both subgraphs' granularities with the retained tensor's footprint.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import weakref
from collections.abc import Iterable, Sequence
from functools import cached_property

from mlsched import clock
from mlsched.heuristics.dependency import DependencyAnalyzer
from mlsched.heuristics.fusion import (
    Candidate,
    Fusion,
    Group,
    Scored,
    deadline_passed,
)
from mlsched.heuristics.granularity import Choice, GranularityOptimizer
from mlsched.model import Grain, Problem, SubgraphView
from mlsched.model.cost import known_cost, shape_costs
from mlsched.model.schedule import Step, retained_in, step_latencies
from mlsched.model.subgraph import shape_signature
from mlsched.model.types import Rules

logger = logging.getLogger(__name__)

# Merged groups beyond this many ops are not considered: the granularity
# search grows with the group and such groups rarely fit in fast memory.
MAX_GROUP_OPS = 24
# At most this many tensors are considered for retention at one boundary.
MAX_RETAIN_CANDIDATES = 3
# Fusion runs as (rank merges by relative saving, prefer retention over
# fusing two groups); the cheapest schedule wins.
STRATEGIES = ((False, False), (True, False), (False, True))


def _early(deadline: float | None, share: float) -> float | None:
    """``deadline`` moved earlier, leaving ``1 - share`` of the time left
    for what must follow the stage that receives it."""
    if deadline is None:
        return None
    now = clock.now()
    return now + share * max(0.0, deadline - now)


class Infeasible(Exception):
    """No valid schedule exists: some op fits at no granularity."""


def naive_schedule(
    problem: Problem,
    optimizer: GranularityOptimizer,
    fine: GranularityOptimizer | None = None,
    deadline: float | None = None,
) -> list[Step]:
    """One op per subgraph in topological order, best granularity each.

    With ``fine``, each op's granularity is polished like the list
    scheduler's (see :func:`polish`, which stops at ``deadline``), so the
    two compare like for like. Without it, the schedule costs one
    granularity search per distinct op shape: the layers of a model share
    them.

    Raises
    ------
    Infeasible
        If an op fits at no granularity on its own.
    """
    steps = []
    for o in problem.topological_order:
        choice = optimizer.best([o])
        if choice is None:
            raise Infeasible(f"op {o} fits at no granularity on its own")
        steps.append(Step((o,), choice.grain, choice.traversal))
    return steps if fine is None else polish(steps, optimizer, fine, deadline)


def polish(
    steps: Sequence[Step],
    coarse: GranularityOptimizer,
    fine: GranularityOptimizer,
    deadline: float | None = None,
) -> list[Step]:
    """Re-choose each step's granularity among the fine tile sizes.

    Grouping decisions use the fast power-of-two search; once the
    schedule is fixed, tiles that just fit (multiples of 8) often cut a
    subgraph's latency further. Both a search around the chosen size and
    a full fine search are tried; a step keeps its granularity unless one
    of them is cheaper. Past ``deadline`` (a :func:`mlsched.clock.now`
    instant) the remaining steps keep their granularity.
    """
    out = []
    memo = _decisions(coarse, fine, deadline)
    befores = retained_in(s.retain for s in steps)
    for s, carried in zip(steps, befores):
        before, retain = frozenset(carried), frozenset(s.retain)
        key = (
            shape_signature(coarse.problem, s.ops, before, retain),
            s.grain,
            s.traversal,
        )
        if key not in memo:
            if deadline_passed(deadline):
                memo[key] = s.grain, s.traversal
            else:
                memo[key] = _polished(coarse, fine, s, before)
        grain, traversal = memo[key]
        out.append(Step(s.ops, grain, traversal, s.retain))
    return out


#: Per problem and optimizer settings, :func:`polish`'s decision for each
#: distinct step, kept while the problem lives (see :func:`_decisions`).
_DECISIONS: weakref.WeakKeyDictionary[
    Problem, dict[object, dict[object, tuple[Grain, str]]]
] = weakref.WeakKeyDictionary()


def _decisions(
    coarse: GranularityOptimizer,
    fine: GranularityOptimizer,
    deadline: float | None,
) -> dict[object, tuple[Grain, str]]:
    """Where :func:`polish` keeps its decision per distinct step (repeated
    layers polish alike).

    Without a deadline, and off a deterministic clock, a decision is a
    function of the problem, the step and the optimizers' settings, so
    every polish of the problem shares them: the list scheduler polishes
    the one-op-per-subgraph schedule first, and the baseline it is
    compared with (a benchmark row, a gap report) is that same schedule.
    Else what a polish finds depends on the time, and on a deterministic
    clock each decision must be paid for in counted work: then the
    decisions are this call's alone.
    """
    if deadline is not None or clock.current().deterministic:
        return {}
    known = _DECISIONS.setdefault(coarse.problem, {})
    return known.setdefault((coarse.settings, fine.settings), {})


def _polished(
    coarse: GranularityOptimizer,
    fine: GranularityOptimizer,
    s: Step,
    before: frozenset[int],
) -> tuple[Grain, str]:
    """The granularity and traversal :func:`polish` gives step ``s``."""
    retain = frozenset(s.retain)
    view = SubgraphView(coarse.problem, s.ops, retain, before)
    costs = shape_costs(coarse.problem, view.signature)
    latency = known_cost(view, costs, s.grain, s.traversal).latency
    grain, traversal = s.grain, s.traversal
    for choice in (
        fine.best(s.ops, before, retain, around=s.grain),
        fine.best(s.ops, before, retain),
    ):
        if choice is not None and choice.latency < latency:
            latency = choice.latency
            grain, traversal = choice.grain, choice.traversal
    return grain, traversal


class ListScheduler:
    """Fusion, critical-path list scheduling and retention.

    Parameters
    ----------
    problem
        The problem.
    rules
        ``"strict"`` or ``"contest"``.
    optimizer
        The granularity optimizer (shared caches make later stages and the
        CP-SAT solver cheaper).
    polish
        Finish with :meth:`polish` (fine tile sizes for the final groups).
    """

    def __init__(
        self,
        problem: Problem,
        rules: Rules = "strict",
        optimizer: GranularityOptimizer | None = None,
        polish: bool = True,
    ) -> None:
        self.polish_grains = polish
        self.problem = problem
        self.rules = rules
        self.optimizer = optimizer or GranularityOptimizer(problem, rules)
        self.deps = DependencyAnalyzer(problem)

    # Public API ----------------------------------------------------------

    def schedule(self, deadline: float | None = None) -> list[Step]:
        """The best schedule of the fusion strategies, never worse than naive.

        Fusion runs with each of :data:`STRATEGIES`: merging first by the
        largest absolute or relative saving, and optionally keeping two
        groups apart when retaining the tensor between them beats fusing
        them. Each result is polished; the cheapest is kept.

        Parameters
        ----------
        deadline
            A :func:`mlsched.clock.now` instant. Stages still running then
            are cut short (fusion stops merging, polishing stops, later
            strategies are skipped) and the best schedule so far is
            returned; ordering and retention, linear in the schedule,
            always finish.

        Raises
        ------
        Infeasible
            If an op fits at no granularity on its own.
        """
        fine = GranularityOptimizer(self.problem, self.rules, fine=True)
        best = naive_schedule(self.problem, self.optimizer)
        if self.polish_grains:
            best = polish(best, self.optimizer, fine, _early(deadline, 0.5))
        best_cost = self.cost(best)
        took = 0.0
        for relative, retain_aware in STRATEGIES:
            # A strategy cut short rarely beats a finished one: start
            # another only when it can take as long as the last did.
            began = clock.now()
            if deadline_passed(deadline) or (
                deadline is not None and began + took > deadline
            ):
                break
            groups = self.fuse(relative, retain_aware, _early(deadline, 0.8))
            steps = self.retain(self.order(groups))
            if self.polish_grains:
                steps = polish(steps, self.optimizer, fine, deadline)
            cost = self.cost(steps)
            if cost < best_cost:
                best, best_cost = steps, cost
            took = clock.now() - began
        return best

    def polish(
        self, steps: Sequence[Step], fine: GranularityOptimizer | None = None
    ) -> list[Step]:
        """:func:`polish` with this scheduler's optimizer."""
        if fine is None:
            fine = GranularityOptimizer(self.problem, self.rules, fine=True)
        return polish(steps, self.optimizer, fine)

    def cost(self, steps: Sequence[Step]) -> float:
        """Total latency of ``steps`` (each distinct step costed once)."""
        return sum(step_latencies(self.problem, steps))

    def choose(self, ops: Iterable[int]) -> Choice | None:
        """The optimizer's best choice for ``ops`` in topological order."""
        return self.optimizer.best(self.deps.in_order(ops))

    # Stage 1: fusion -----------------------------------------------------

    def fuse(
        self,
        relative: bool = False,
        retain_aware: bool = False,
        deadline: float | None = None,
    ) -> list[tuple[int, ...]]:
        """Greedily merge groups while a merge saves latency.

        Parameters
        ----------
        relative
            Rank merges by saving relative to the parts' latency instead
            of by absolute saving.
        retain_aware
            Skip a merge of two groups when running them back to back
            with the tensor between them retained is cheaper.
        deadline
            A :func:`mlsched.clock.now` instant: stop merging then and
            return the groups so far (a valid partition).
        """
        singles = []
        for o in range(self.problem.num_ops):
            choice = self.choose([o])
            if choice is None:
                raise Infeasible(f"op {o} fits at no granularity on its own")
            singles.append(choice)

        def score(
            a: int, b: int, groups: dict[int, Group], group_of: Sequence[int]
        ) -> Scored:
            return self.score_pair(
                a, b, groups, group_of, relative, retain_aware
            )

        fusion = Fusion(self.deps, singles, self.links, score, self.choose)
        return fusion.run(deadline)

    def score_pair(
        self,
        ga: int,
        gb: int,
        groups: dict[int, Group],
        group_of: Sequence[int],
        relative: bool = False,
        retain_aware: bool = False,
    ) -> Scored:
        """The merge of groups ``ga`` and ``gb`` (with the groups its
        closure pulls in) if it is legal and saves, and the groups read."""
        merged, reads = self._closure({ga, gb}, groups, group_of)
        if merged is None:
            return Scored(None, reads)
        ops = frozenset(o for g in merged for o in groups[g].ops)
        choice = self.choose(ops)
        if choice is None:
            return Scored(None, reads)
        parts = sum(groups[g].latency for g in sorted(merged))
        gain = parts - choice.latency
        if gain <= 1e-9 * choice.latency:
            return Scored(None, reads)
        if retain_aware and self._retention_beats(
            merged, groups, choice.latency
        ):
            return Scored(None, reads)
        score = gain / parts if relative else gain
        return Scored(Candidate(score, tuple(sorted(merged)), ops), reads)

    def _retention_beats(
        self, merged: set[int], groups: dict[int, Group], fused: float
    ) -> bool:
        """Whether two groups cost less apart, one retaining into the
        other, than fused at ``fused``."""
        if len(merged) != 2:
            return False
        a, b = (groups[g].ops for g in merged)
        for first, second in ((a, b), (b, a)):
            for t in self._retainable(first, second):
                keep = frozenset([t])
                head = self.optimizer.best(first, (), keep)
                tail = self.optimizer.best(second, keep)
                if head and tail and head.latency + tail.latency < fused:
                    return True
        return False

    @cached_property
    def links(self) -> list[tuple[int, int]]:
        """Op pairs whose groups may merge: data edges and shared reads."""
        return list(self.deps.links)

    def _closure(
        self,
        seed: set[int],
        groups: dict[int, Group],
        group_of: Sequence[int],
    ) -> tuple[set[int] | None, tuple[int, ...]]:
        """Groups to merge with ``seed`` so the union is closed and convex
        (None if too large or not convex), and every group looked at."""
        shared = self.deps.shared_readers
        merged = set(seed)
        while True:
            ops = {o for g in merged for o in groups[g].ops}
            if len(ops) > MAX_GROUP_OPS:
                return None, tuple(merged)
            # A tensor read inside and outside would be hidden from the
            # readers outside (SPEC §4 item 6): their groups join.
            missing = {
                group_of[c]
                for o in ops
                for readers in shared[o]
                if any(c in ops for c in readers)
                for c in readers
                if c not in ops
            }
            if not missing:
                break
            merged |= missing
        if not self.deps.is_convex(ops):
            return None, tuple(merged)
        return merged, tuple(merged)

    # Stage 2: list scheduling --------------------------------------------

    def order(self, groups: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
        """Order the groups: retention affinity, then critical path.

        Among the ready groups, one that can take a tensor retained from
        the group just scheduled comes first (the most elements, then the
        deepest, then the first listed); only successors of that group
        can, so the others wait in a heap by depth.
        """
        depth = self.deps.depth
        group_of = {o: i for i, g in enumerate(groups) for o in g}
        succs: list[set[int]] = [set() for _ in groups]
        for o, c, _ in self.deps.edges():
            if group_of[o] != group_of[c]:
                succs[group_of[o]].add(group_of[c])
        waiting = [0] * len(groups)
        for s in succs:
            for nxt in s:
                waiting[nxt] += 1
        priority = [max(depth[o] for o in g) for g in groups]
        heap = [(-priority[i], i) for i, n in enumerate(waiting) if n == 0]
        heapq.heapify(heap)
        done = [False] * len(groups)
        order: list[int] = []
        while heap:
            best = self._affine_successor(order, groups, succs, waiting, done)
            if best is None:
                best = heapq.heappop(heap)[1]
                if done[best]:
                    continue
            done[best] = True
            order.append(best)
            for nxt in succs[best]:
                waiting[nxt] -= 1
                if waiting[nxt] == 0:
                    heapq.heappush(heap, (-priority[nxt], nxt))
        if len(order) != len(groups):  # pragma: no cover - fuse() forbids
            raise RuntimeError("cyclic group graph")
        return [groups[i] for i in order]

    def _affine_successor(
        self,
        order: list[int],
        groups: list[tuple[int, ...]],
        succs: list[set[int]],
        waiting: list[int],
        done: list[bool],
    ) -> int | None:
        """The ready successor of the last scheduled group that takes the
        most retainable elements from it (then deepest, then first)."""
        if not order:
            return None
        prev = groups[order[-1]]
        depth = self.deps.depth
        best, best_key = None, None
        for i in succs[order[-1]]:
            if waiting[i] or done[i]:
                continue
            affinity = self._affinity(prev, groups[i])
            if affinity <= 0:
                continue
            key = (affinity, max(depth[o] for o in groups[i]), -i)
            if best_key is None or key > best_key:
                best, best_key = i, key
        return best

    def _retainable(
        self, prev: Sequence[int], nxt: Sequence[int]
    ) -> list[int]:
        """Tensors ``prev`` could keep for ``nxt``: all readers in ``nxt``.

        The strict rules forbid retaining a graph output and passing a
        tensor through; a retained tensor is never written back, so no
        later subgraph may need it. The contest rules do not check that
        (SPEC §8 item 5 is strict only), but a later reader would load a
        tensor slow memory never received: mlsched's schedules keep to
        the data flow in both profiles.
        """
        p = self.problem
        inside = set(prev)
        readers = set(nxt)
        return [
            t
            for o in prev
            for t in p.outputs[o]
            if self.deps.may_retain(t, inside)
            and all(c in readers for c in p.consumers[t])
        ]

    def _affinity(self, prev: Sequence[int], group: Sequence[int]) -> int:
        """Elements of tensors ``group`` could take retained from ``prev``."""
        sizes = self.problem.sizes
        return sum(sizes[t] for t in self._retainable(prev, group))

    # Stage 3: retention --------------------------------------------------

    def retain(self, order: list[tuple[int, ...]]) -> list[Step]:
        """Choose retained tensors along ``order`` by dynamic programming.

        The state between two subgraphs is the set of tensors retained
        across that boundary; each subgraph's cost depends only on the
        sets on its two sides, so the DP is exact for the fixed order.
        """
        n = len(order)
        options: list[list[frozenset[int]]] = []
        sizes = self.problem.sizes
        for i in range(n):
            if i + 1 < n:
                cands = self._retainable(order[i], order[i + 1])
                cands = sorted(cands, key=lambda t: sizes[t])
                cands = cands[:MAX_RETAIN_CANDIDATES]
            else:
                cands = []
            subsets = [
                frozenset(c)
                for r in range(len(cands) + 1)
                for c in itertools.combinations(cands, r)
            ]
            options.append(subsets)
        # best[R] = (cost so far, back pointer) with R retained out of i.
        empty: frozenset[int] = frozenset()
        layers: list[dict[frozenset[int], tuple[float, frozenset[int]]]] = []
        prev_layer = {empty: (0.0, empty)}
        for i in range(n):
            layer: dict[frozenset[int], tuple[float, frozenset[int]]] = {}
            for retain_out in options[i]:
                for retain_in, (acc, _) in prev_layer.items():
                    choice = self.optimizer.best(
                        order[i], retain_in, retain_out
                    )
                    if choice is None:
                        continue
                    total = acc + choice.latency
                    if retain_out not in layer or total < layer[retain_out][0]:
                        layer[retain_out] = (total, retain_in)
            if not layer:  # pragma: no cover - the empty sets always fit
                raise Infeasible(f"group {order[i]} fits nowhere")
            layers.append(layer)
            prev_layer = layer
        # Backtrack.
        retained: list[frozenset[int]] = [empty] * n
        current = min(prev_layer, key=lambda r: prev_layer[r][0])
        for i in range(n - 1, -1, -1):
            retained[i] = current
            current = layers[i][current][1]
        steps = []
        for i, (ops, before) in enumerate(
            zip(order, retained_in(retained), strict=True)
        ):
            choice = self.optimizer.best(ops, before, retained[i])
            assert choice is not None
            steps.append(
                Step(
                    ops,
                    choice.grain,
                    choice.traversal,
                    tuple(sorted(retained[i])),
                )
            )
        return steps
