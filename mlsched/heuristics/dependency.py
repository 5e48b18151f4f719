"""Dependency analysis of the op graph."""

from __future__ import annotations

import itertools
from collections.abc import Container, Iterable
from functools import cached_property

from mlsched.model import Problem
from mlsched.model.chains import native_tiles


class DependencyAnalyzer:
    """Producers, consumers, order and critical paths of a problem's DAG.

    Parameters
    ----------
    problem
        The problem to analyse.
    """

    def __init__(self, problem: Problem) -> None:
        self.problem = problem

    @property
    def producer(self) -> dict[int, int]:
        """Map from tensor to the op that produces it."""
        return self.problem.producer

    @property
    def consumers(self) -> tuple[tuple[int, ...], ...]:
        """Per tensor, the ops reading it."""
        return self.problem.consumers

    @property
    def graph_inputs(self) -> frozenset[int]:
        """Tensors that start in slow memory."""
        return self.problem.graph_inputs

    @property
    def graph_outputs(self) -> frozenset[int]:
        """Tensors that must end in slow memory."""
        return self.problem.graph_outputs

    @property
    def topological_order(self) -> tuple[int, ...]:
        """Ops in a topological order."""
        return self.problem.topological_order

    @cached_property
    def rank(self) -> dict[int, int]:
        """Position of each op in :attr:`topological_order`."""
        return {o: i for i, o in enumerate(self.topological_order)}

    @cached_property
    def successors(self) -> tuple[tuple[int, ...], ...]:
        """Ops that read an output of each op."""
        p = self.problem
        return tuple(
            tuple(sorted({c for t in p.outputs[o] for c in p.consumers[t]}))
            for o in range(p.num_ops)
        )

    @cached_property
    def predecessors(self) -> tuple[tuple[int, ...], ...]:
        """Ops whose output each op reads."""
        p = self.problem
        return tuple(
            tuple(
                sorted({p.producer[t] for t in p.inputs[o] if t in p.producer})
            )
            for o in range(p.num_ops)
        )

    @cached_property
    def native_cost(self) -> tuple[float, ...]:
        """Roofline estimate of each op alone at native granularity.

        ``max(base_cost x native tiles, (inputs + outputs) / bandwidth)``:
        cheap, monotone in the op's real cost, and needs no search.
        """
        p = self.problem
        costs = []
        for o in range(p.num_ops):
            tiles = native_tiles(p, p.outputs[o][0])
            moved = sum(p.sizes[t] for t in (*p.inputs[o], *p.outputs[o]))
            costs.append(
                max(
                    p.base_costs[o] * tiles,
                    moved / p.slow_memory_bandwidth,
                )
            )
        return tuple(costs)

    @cached_property
    def depth(self) -> tuple[float, ...]:
        """Critical-path depth: the costliest path from each op to an end."""
        depth = [0.0] * self.problem.num_ops
        for o in reversed(self.topological_order):
            tail = max((depth[c] for c in self.successors[o]), default=0.0)
            depth[o] = self.native_cost[o] + tail
        return tuple(depth)

    @cached_property
    def descendants(self) -> tuple[int, ...]:
        """Bitmask of the ops reachable from each op (itself excluded)."""
        desc = [0] * self.problem.num_ops
        for o in reversed(self.topological_order):
            mask = 0
            for c in self.successors[o]:
                mask |= desc[c] | (1 << c)
            desc[o] = mask
        return tuple(desc)

    @cached_property
    def ancestors(self) -> tuple[int, ...]:
        """Bitmask of the ops each op is reachable from (itself excluded)."""
        anc = [0] * self.problem.num_ops
        for o in self.topological_order:
            mask = 0
            for q in self.predecessors[o]:
                mask |= anc[q] | (1 << q)
            anc[o] = mask
        return tuple(anc)

    def in_order(self, ops: Iterable[int]) -> tuple[int, ...]:
        """``ops`` sorted by :attr:`topological_order` (execution order)."""
        return tuple(sorted(ops, key=self.rank.__getitem__))

    def is_convex(self, ops: Iterable[int]) -> bool:
        """Whether no path leaves the op set and comes back into it."""
        mask = desc = anc = 0
        for o in ops:
            mask |= 1 << o
            desc |= self.descendants[o]
            anc |= self.ancestors[o]
        return (desc & anc) & ~mask == 0

    def is_closed(self, ops: Iterable[int]) -> bool:
        """Whether every tensor passed inside the set stays inside it.

        A tensor produced and read inside a subgraph becomes ephemeral; a
        reader outside would then find it nowhere (SPEC §4 item 6).
        """
        members = tuple(ops)
        mask = 0
        for o in members:
            mask |= 1 << o
        for o in members:
            for readers in self.reader_masks[o]:
                if readers & mask and readers & ~mask:
                    return False
        return True

    @cached_property
    def reader_masks(self) -> tuple[tuple[int, ...], ...]:
        """Per op, a bitmask of the readers of each tensor it outputs
        that two or more ops read (:attr:`shared_readers`)."""
        return tuple(
            tuple(sum(1 << c for c in readers) for readers in shared)
            for shared in self.shared_readers
        )

    @cached_property
    def shared_readers(self) -> tuple[tuple[tuple[int, ...], ...], ...]:
        """Per op, the readers of each tensor it outputs that two or more
        ops read: only those can be read both inside and outside an op
        set (:meth:`is_closed`)."""
        p = self.problem
        return tuple(
            tuple(
                p.consumers[t] for t in p.outputs[o] if len(p.consumers[t]) > 1
            )
            for o in range(p.num_ops)
        )

    def edges(self) -> list[tuple[int, int, int]]:
        """All (producer, consumer, tensor) edges."""
        p = self.problem
        return [
            (o, c, t)
            for o in range(p.num_ops)
            for t in p.outputs[o]
            for c in p.consumers[t]
        ]

    @cached_property
    def links(self) -> tuple[tuple[int, int], ...]:
        """Op pairs linked by a tensor, sorted: each data edge as
        (producer, consumer) and each two readers of one tensor in
        ascending order. Only linked ops may share a subgraph usefully
        (and, in the strict profile, at all: SPEC §8 item 3)."""
        pairs = {(o, c) for o, c, _ in self.edges()}
        for readers in self.problem.consumers:
            pairs.update(itertools.combinations(readers, 2))
        return tuple(sorted(pairs))

    def may_retain(self, t: int, ops: Container[int]) -> bool:
        """Whether a subgraph of ``ops`` that produces tensor ``t`` may
        keep it in fast memory for the next subgraph: ``t`` has readers,
        none of them in ``ops``, and fits fast memory. (The next subgraph
        must also hold every reader: a later one would load a tensor
        that was never written back, in both profiles.)"""
        p = self.problem
        readers = p.consumers[t]
        return (
            bool(readers)
            and not any(c in ops for c in readers)
            and p.sizes[t] < p.fast_memory_capacity
        )
