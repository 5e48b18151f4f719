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

import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mlsched.heuristics.dependency import DependencyAnalyzer
from mlsched.heuristics.granularity import Choice, GranularityOptimizer
from mlsched.model import Problem, SubgraphView, view_cost
from mlsched.model.schedule import Step

logger = logging.getLogger(__name__)

# Merged groups beyond this many ops are not considered: the granularity
# search grows with the group and such groups rarely fit in fast memory.
MAX_GROUP_OPS = 24
# At most this many tensors are considered for retention at one boundary.
MAX_RETAIN_CANDIDATES = 3
# Fusion runs as (rank merges by relative saving, prefer retention over
# fusing two groups); the cheapest schedule wins.
STRATEGIES = ((False, False), (True, False), (False, True))


class Infeasible(Exception):
    """No valid schedule exists: some op fits at no granularity."""


@dataclass
class _Group:
    ops: tuple[int, ...]
    latency: float


def naive_schedule(
    problem: Problem,
    optimizer: GranularityOptimizer,
    fine: GranularityOptimizer | None = None,
) -> list[Step]:
    """One op per subgraph in topological order, best granularity each.

    With ``fine``, each op's granularity is polished like the list
    scheduler's (see :func:`polish`), so the two compare like for like.

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
    return steps if fine is None else polish(steps, optimizer, fine)


def polish(
    steps: Sequence[Step],
    coarse: GranularityOptimizer,
    fine: GranularityOptimizer,
) -> list[Step]:
    """Re-choose each step's granularity among the fine tile sizes.

    Grouping decisions use the fast power-of-two search; once the
    schedule is fixed, tiles that just fit (multiples of 8) often cut a
    subgraph's latency further. Both a search around the chosen size and
    a full fine search are tried; a step keeps its granularity unless one
    of them is cheaper.
    """
    out = []
    before: frozenset[int] = frozenset()
    for s in steps:
        retain = frozenset(s.retain)
        view = SubgraphView(coarse.problem, s.ops, retain, before)
        latency = view_cost(view, s.grain, s.traversal).latency
        for choice in (
            fine.best(s.ops, before, retain, around=s.grain),
            fine.best(s.ops, before, retain),
        ):
            if choice is not None and choice.latency < latency:
                latency = choice.latency
                s = Step(s.ops, choice.grain, choice.traversal, s.retain)
        out.append(s)
        before = retain
    return out


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
        rules: str = "strict",
        optimizer: GranularityOptimizer | None = None,
        polish: bool = True,
    ) -> None:
        self.polish_grains = polish
        self.problem = problem
        self.rules = rules
        self.optimizer = optimizer or GranularityOptimizer(problem, rules)
        self.deps = DependencyAnalyzer(problem)

    # Public API ----------------------------------------------------------

    def schedule(self) -> list[Step]:
        """The best schedule of the fusion strategies, never worse than naive.

        Fusion runs with each of :data:`STRATEGIES`: merging first by the
        largest absolute or relative saving, and optionally keeping two
        groups apart when retaining the tensor between them beats fusing
        them. Each result is polished; the cheapest is kept.

        Raises
        ------
        Infeasible
            If an op fits at no granularity on its own.
        """
        fine = GranularityOptimizer(self.problem, self.rules, fine=True)
        best = naive_schedule(
            self.problem, self.optimizer, fine if self.polish_grains else None
        )
        best_cost = self.cost(best)
        for relative, retain_aware in STRATEGIES:
            groups = self.fuse(relative, retain_aware)
            steps = self.retain(self.order(groups))
            if self.polish_grains:
                steps = self.polish(steps, fine)
            cost = self.cost(steps)
            if cost < best_cost:
                best, best_cost = steps, cost
        return best

    def polish(
        self, steps: Sequence[Step], fine: GranularityOptimizer | None = None
    ) -> list[Step]:
        """:func:`polish` with this scheduler's optimizer."""
        if fine is None:
            fine = GranularityOptimizer(self.problem, self.rules, fine=True)
        return polish(steps, self.optimizer, fine)

    def cost(self, steps: Sequence[Step]) -> float:
        """Total latency of ``steps`` by the optimizer's cached costs."""
        total = 0.0
        retain_in: tuple[int, ...] = ()
        for s in steps:
            view = SubgraphView(self.problem, s.ops, s.retain, retain_in)
            total += view_cost(view, s.grain, s.traversal).latency
            retain_in = s.retain
        return total

    def choose(self, ops: Iterable[int]) -> Choice | None:
        """The optimizer's best choice for ``ops`` in topological order."""
        return self.optimizer.best(self.deps.in_order(ops))

    # Stage 1: fusion -----------------------------------------------------

    def fuse(
        self, relative: bool = False, retain_aware: bool = False
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
        """
        p = self.problem
        group_of: dict[int, int] = {}
        groups: dict[int, _Group] = {}
        for o in range(p.num_ops):
            choice = self.choose([o])
            if choice is None:
                raise Infeasible(f"op {o} fits at no granularity on its own")
            groups[o] = _Group((o,), choice.latency)
            group_of[o] = o
        links = self._links()
        rejected: set[frozenset[int]] = set()
        while True:
            best: tuple[float, frozenset[int], list[int]] | None = None
            seen: set[frozenset[int]] = set()
            for a, b in links:
                ga, gb = group_of[a], group_of[b]
                if ga == gb:
                    continue
                merged = self._closure({ga, gb}, groups, group_of)
                if merged is None:
                    continue
                ops = frozenset(o for g in merged for o in groups[g].ops)
                if ops in seen or ops in rejected:
                    continue
                seen.add(ops)
                choice = self.choose(ops)
                if choice is None:
                    continue
                parts = sum(groups[g].latency for g in merged)
                gain = parts - choice.latency
                if gain <= 1e-9 * choice.latency:
                    continue
                if retain_aware and self._retention_beats(
                    merged, groups, choice.latency
                ):
                    continue
                score = gain / parts if relative else gain
                if best is None or score > best[0]:
                    best = (score, ops, sorted(merged))
            if best is None:
                break
            _, ops, chosen = best
            if not self._acyclic_after(chosen, groups, group_of):
                rejected.add(ops)
                continue
            choice = self.choose(ops)
            assert choice is not None
            gid = chosen[0]
            for g in chosen:
                del groups[g]
            groups[gid] = _Group(self.deps.in_order(ops), choice.latency)
            for o in ops:
                group_of[o] = gid
        return [g.ops for g in groups.values()]

    def _retention_beats(
        self, merged: set[int], groups: dict[int, _Group], fused: float
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

    def _links(self) -> list[tuple[int, int]]:
        """Op pairs whose groups may merge: data edges and shared reads."""
        p = self.problem
        pairs = {(o, c) for o, c, _ in self.deps.edges()}
        for readers in p.consumers:
            for a, b in itertools.combinations(readers, 2):
                pairs.add((a, b))
        return sorted(pairs)

    def _closure(
        self,
        seed: set[int],
        groups: dict[int, _Group],
        group_of: dict[int, int],
    ) -> set[int] | None:
        """Groups to merge with ``seed`` so the union is closed and convex."""
        p = self.problem
        merged = set(seed)
        while True:
            ops = {o for g in merged for o in groups[g].ops}
            if len(ops) > MAX_GROUP_OPS:
                return None
            missing = {
                group_of[c]
                for o in ops
                for t in p.outputs[o]
                if any(c in ops for c in p.consumers[t])
                for c in p.consumers[t]
                if c not in ops
            }
            if not missing:
                break
            merged |= missing
        if not self.deps.is_convex(ops):
            return None
        return merged

    def _acyclic_after(
        self,
        merged: Sequence[int],
        groups: dict[int, _Group],
        group_of: dict[int, int],
    ) -> bool:
        """Whether the group graph stays acyclic if ``merged`` unite."""
        target = merged[0]
        label = {
            o: (target if g in merged else g) for o, g in group_of.items()
        }
        succ: dict[int, set[int]] = {}
        for o, c, _ in self.deps.edges():
            a, b = label[o], label[c]
            if a != b:
                succ.setdefault(a, set()).add(b)
        state: dict[int, int] = {}
        for start in succ:
            if state.get(start):
                continue
            stack = [(start, iter(succ.get(start, ())))]
            state[start] = 1
            while stack:
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    state[node] = 2
                    stack.pop()
                elif state.get(nxt) == 1:
                    return False
                elif not state.get(nxt):
                    state[nxt] = 1
                    stack.append((nxt, iter(succ.get(nxt, ()))))
        return True

    # Stage 2: list scheduling --------------------------------------------

    def order(self, groups: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
        """Order the groups: retention affinity, then critical path."""
        depth = self.deps.depth
        group_of = {o: i for i, g in enumerate(groups) for o in g}
        preds: list[set[int]] = [set() for _ in groups]
        for o, c, _ in self.deps.edges():
            if group_of[o] != group_of[c]:
                preds[group_of[c]].add(group_of[o])
        waiting = [len(s) for s in preds]
        succs: list[set[int]] = [set() for _ in groups]
        for i, s in enumerate(preds):
            for q in s:
                succs[q].add(i)
        ready = {i for i, n in enumerate(waiting) if n == 0}
        priority = [max(depth[o] for o in g) for g in groups]
        order: list[int] = []
        while ready:
            prev = groups[order[-1]] if order else ()
            best = max(
                ready,
                key=lambda i: (
                    self._affinity(prev, groups[i]),
                    priority[i],
                    -i,
                ),
            )
            ready.remove(best)
            order.append(best)
            for nxt in succs[best]:
                waiting[nxt] -= 1
                if waiting[nxt] == 0:
                    ready.add(nxt)
        if len(order) != len(groups):  # pragma: no cover - fuse() forbids
            raise RuntimeError("cyclic group graph")
        return [groups[i] for i in order]

    def _retainable(
        self, prev: Sequence[int], nxt: Sequence[int]
    ) -> list[int]:
        """Tensors ``prev`` could keep for ``nxt``: all readers in ``nxt``.

        The strict rules forbid retaining a graph output and passing a
        tensor through; a retained tensor is never written back, so no
        later subgraph may need it.
        """
        p = self.problem
        inside = set(prev)
        readers = set(nxt)
        out = []
        for o in prev:
            for t in p.outputs[o]:
                cons = p.consumers[t]
                if (
                    cons
                    and not any(c in inside for c in cons)
                    and all(c in readers for c in cons)
                    and p.sizes[t] < p.fast_memory_capacity
                ):
                    out.append(t)
        return out

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
        before: frozenset[int] = empty
        for i, ops in enumerate(order):
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
            before = retained[i]
        return steps
