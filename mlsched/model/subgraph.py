"""What one subgraph is made of (SPEC §3), its local rules and working set.

Shared by the per-cell reference simulation and the fast cost oracle: both
read the same :class:`SubgraphView` and differ only in how they sum cells.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import Any, NamedTuple

from mlsched import clock
from mlsched.model.problem import PerProblem, Problem

# Old import names; the home of these is mlsched.model.types.
from mlsched.model.types import RULES as RULES
from mlsched.model.types import Rules as Rules
from mlsched.model.types import isclose as isclose


class Role(Enum):
    """MatMul role inside a subgraph (SPEC §3)."""

    STANDALONE = "standalone"
    LHS_HEAD = "lhs-head"
    RHS_HEAD = "rhs-head"
    LHS_TAIL = "lhs-tail"
    RHS_TAIL = "rhs-tail"
    MIDDLE = "middle"

    @property
    def is_head(self) -> bool:
        """Whether this is an LHS- or RHS-head."""
        return self in (Role.LHS_HEAD, Role.RHS_HEAD)

    @property
    def is_tail(self) -> bool:
        """Whether this is an LHS- or RHS-tail."""
        return self in (Role.LHS_TAIL, Role.RHS_TAIL)


class Kind(Enum):
    """How one input use is sliced (SPEC §5.2 table), by key shape."""

    PW = "pw"  # (r, c, -)    h_eff*w_eff      k-step 0
    LHS = "lhs"  # (r, -, j)  h_eff*k_eff      every step
    RHS = "rhs"  # (-, c, j)  k_eff*w_eff      every step
    HL_LHS = "hl_lhs"  # (r, -, -)  h_eff*K_op  k-step 0
    HL_RHS = "hl_rhs"  # (-, -, j)  K_op*k_eff  every step
    HR_LHS = "hr_lhs"  # (-, -, j)  k_eff*K_op  every step
    HR_RHS = "hr_rhs"  # (-, c, -)  K_op*w_eff  k-step 0

    @property
    def step0_only(self) -> bool:
        """Whether the use is loaded at k-step 0 only."""
        return self in (Kind.PW, Kind.HL_LHS, Kind.HR_RHS)


@dataclass(frozen=True)
class Use:
    """A non-free input use: op ``op`` reads tensor ``tensor``."""

    op: int
    tensor: int
    kind: Kind
    k_op: int  # K of the reading MatMul (0 for Pointwise)


@dataclass(frozen=True)
class Grain:
    """A granularity ``[w, h, k]``."""

    w: int
    h: int
    k: int

    @classmethod
    def of(cls, values: Sequence[int]) -> Grain:
        """From a ``[w, h, k]`` list."""
        w, h, k = values
        return cls(int(w), int(h), int(k))

    def as_list(self) -> list[int]:
        """The contest ``[w, h, k]`` list."""
        return [self.w, self.h, self.k]


class WideOperand(NamedTuple):
    """A Pointwise output a MatMul of the subgraph reads: with several
    k-steps the tile must cover the MatMul's K along ``axis``."""

    #: The Pointwise op.
    op: int
    #: The MatMul reading its output.
    matmul: int
    #: The MatMul's K.
    k_op: int
    #: ``"w"`` (read as LHS) or ``"h"`` (read as RHS).
    axis: str


class WorkingSetTerms(NamedTuple):
    """A subgraph's working-set coefficients (SPEC §6), by slice shape.

    The working set at grain [w, h, k] (``ks = min(k, K_slicing)``) is
    ``fixed + planes*h*w + h*(lhs*ks + head_lhs + Σ standalone LHS k₀) +
    w*(rhs*ks + head_rhs + Σ standalone RHS k₀) + streaming*ks``.
    """

    fixed: int  # the retained-in tensors, whole
    planes: int  # h*w slices: Pointwise inputs and the outputs
    lhs: int  # chain LHS uses, h*ks each
    rhs: int  # chain RHS uses, ks*w each
    head_lhs: int  # LHS-head stationary LHS uses, h*K_up each (summed)
    head_rhs: int  # RHS-head stationary RHS uses, K_up*w each (summed)
    streaming: int  # head streaming uses, K_up*ks each (summed K_up)
    alone_lhs: tuple[int, ...]  # K_op of each standalone LHS use
    alone_rhs: tuple[int, ...]  # K_op of each standalone RHS use
    k_slicing: int  # K_slicing, the bound of ks


class FusionFacts(NamedTuple):
    """The granularity-independent parts of the fusion rules."""

    #: Why no granularity is valid, or None.
    always: str | None
    #: Pointwise operands that need a wide tile when k-steps > 1.
    wide: tuple[WideOperand, ...]
    #: Why several k-steps are not valid, or None.
    multi: str | None
    #: Whether 3+ MatMuls or a middle one need w = k = K.
    square: bool


#: Per problem, the :attr:`SubgraphView.cost_memo` of each subgraph
#: shape, by shape signature.
_COST_MEMOS: PerProblem[dict[object, dict[object, Any]]] = PerProblem(dict)


class SubgraphView:
    """The derived structure of one subgraph.

    Parameters
    ----------
    problem
        The problem.
    ops
        Op ids in execution order (ids must be in range).
    retain_out
        R: tensors this subgraph keeps for the next one.
    retain_in
        P: tensors the previous subgraph kept for this one.
    """

    def __init__(
        self,
        problem: Problem,
        ops: Sequence[int],
        retain_out: Iterable[int] = (),
        retain_in: Iterable[int] = (),
    ) -> None:
        # A view is built to be searched or costed: its work, on a
        # deterministic clock.
        clock.count(clock.VIEW_UNITS)
        self.problem = problem
        self.ops = tuple(ops)
        self.retain_out = frozenset(retain_out)
        self.retain_in = frozenset(retain_in)
        p = problem
        self.opset = frozenset(self.ops)
        self.produced = {t: o for o in self.ops for t in p.outputs[o]}
        consumed = {t for o in self.ops for t in p.inputs[o]}
        self.ephemeral = frozenset(
            t
            for t in self.produced
            if t in consumed
            and t not in p.graph_outputs
            and t not in self.retain_out
        )
        self.outputs = tuple(
            t
            for o in self.ops
            for t in p.outputs[o]
            if t not in self.ephemeral
        )
        self.evicted = tuple(
            t for t in self.outputs if t not in self.retain_out
        )
        self.matmuls = tuple(o for o in self.ops if p.is_matmul[o])

    @cached_property
    def pointwise_cost(self) -> float:
        """Sum of the Pointwise ops' base costs (charged at k-step 0)."""
        p = self.problem
        return sum(p.base_costs[o] for o in self.ops if not p.is_matmul[o])

    # MatMul roles --------------------------------------------------------

    def _mm_ephemeral(self, t: int) -> bool:
        o = self.produced.get(t)
        return (
            o is not None and t in self.ephemeral and self.problem.is_matmul[o]
        )

    @cached_property
    def _chain_flags(self) -> dict[int, tuple[bool, bool, bool, bool]]:
        """Per MatMul: (eph LHS, eph RHS, feeds LHS, feeds RHS)."""
        p = self.problem
        feeds_lhs: set[int] = set()
        feeds_rhs: set[int] = set()
        flags: dict[int, list[bool]] = {}
        for m in self.matmuls:
            lhs, rhs = p.inputs[m]
            eph_l, eph_r = self._mm_ephemeral(lhs), self._mm_ephemeral(rhs)
            if eph_l:
                feeds_lhs.add(self.produced[lhs])
            if eph_r:
                feeds_rhs.add(self.produced[rhs])
            flags[m] = [eph_l, eph_r]
        return {
            m: (f[0], f[1], m in feeds_lhs, m in feeds_rhs)
            for m, f in flags.items()
        }

    @cached_property
    def roles(self) -> dict[int, Role]:
        """The role of every MatMul of the subgraph."""
        roles: dict[int, Role] = {}
        for m, (el, er, fl, fr) in self._chain_flags.items():
            has_in, feeds = el or er, fl or fr
            if not has_in and not feeds:
                roles[m] = Role.STANDALONE
            elif not has_in:
                roles[m] = Role.LHS_HEAD if fl else Role.RHS_HEAD
            elif not feeds:
                roles[m] = Role.LHS_TAIL if el else Role.RHS_TAIL
            else:
                roles[m] = Role.MIDDLE
        return roles

    @cached_property
    def k_slicing(self) -> int:
        """K_slicing: K of the last tail, else the largest K, else 0."""
        k_op = self.problem.k_op
        tails = [m for m in self.matmuls if self.roles[m].is_tail]
        if tails:
            return k_op[tails[-1]]
        return max((k_op[m] for m in self.matmuls), default=0)

    @cached_property
    def k_up(self) -> int:
        """K_up: K of the last head, else 0."""
        heads = [m for m in self.matmuls if self.roles[m].is_head]
        return self.problem.k_op[heads[-1]] if heads else 0

    def num_k_steps(self, k: int) -> int:
        """nk: the number of k-steps at reduction step ``k``."""
        if not self.matmuls:
            return 1
        return -(-self.k_slicing // k)

    def k_eff(self, m: int, j: int, k: int, nk: int) -> int:
        """k_eff(m, j): the reduction depth MatMul m covers at k-step j."""
        if self.roles[m] is Role.STANDALONE:
            k_op = self.problem.k_op[m]
            return min(k, k_op - j * k) if nk > 1 else k_op
        return min(k, self.k_slicing - j * k)

    def k_den(self, m: int) -> int:
        """K_den(m): the depth the MatMul's base cost is spread over."""
        if self.roles[m] is Role.STANDALONE:
            return self.problem.k_op[m]
        return self.k_slicing

    @cached_property
    def uses(self) -> tuple[Use, ...]:
        """Input uses that can cost a load, in cell order (SPEC §5.2)."""
        p = self.problem
        uses: list[Use] = []
        for o in self.ops:
            role = self.roles.get(o)
            for pos, t in enumerate(p.inputs[o]):
                if t in self.retain_in or t in self.ephemeral:
                    continue
                if role is None:
                    kind = Kind.PW
                elif role is Role.LHS_HEAD:
                    kind = Kind.HL_LHS if pos == 0 else Kind.HL_RHS
                elif role is Role.RHS_HEAD:
                    kind = Kind.HR_LHS if pos == 0 else Kind.HR_RHS
                else:
                    kind = Kind.LHS if pos == 0 else Kind.RHS
                uses.append(Use(o, t, kind, p.k_op[o]))
        return tuple(uses)

    @cached_property
    def grid_shape(self) -> tuple[int, int]:
        """(W_out, H_out) of the first output; (0, 0) with no output."""
        if not self.outputs:
            return 0, 0
        t = self.outputs[0]
        return self.problem.widths[t], self.problem.heights[t]

    def grid(self, grain: Grain) -> tuple[int, int]:
        """(nw, nh): tile columns and rows."""
        width, height = self.grid_shape
        return -(-width // grain.w), -(-height // grain.h)

    # Rules ---------------------------------------------------------------

    @cached_property
    def fusion_facts(self) -> FusionFacts:
        """The parts of the fusion rules (SPEC §4 item 7) that depend on
        no granularity; :meth:`fusion_violation` applies them."""
        p = self.problem
        for m, (_, _, fl, fr) in self._chain_flags.items():
            if fl and fr:
                return FusionFacts(
                    f"op {m}: its output is read as LHS and as RHS by "
                    "fused MatMuls",
                    (),
                    None,
                    False,
                )
        wide: list[WideOperand] = []
        for o in self.ops:
            if p.is_matmul[o]:
                continue
            for t in p.outputs[o]:
                for c in p.consumers[t]:
                    if c not in self.opset or not p.is_matmul[c]:
                        continue
                    lhs, rhs = p.inputs[c]
                    if t == lhs:
                        wide.append(WideOperand(o, c, p.k_op[c], "w"))
                    if t == rhs:
                        wide.append(WideOperand(o, c, p.k_op[c], "h"))
        values = list(self.roles.values())
        multi: str | None = None
        heads = sum(r.is_head for r in values)
        tails = sum(r.is_tail for r in values)
        alone = values.count(Role.STANDALONE)
        if Role.MIDDLE in values:
            multi = "a middle MatMul is not allowed when k-steps > 1"
        elif heads or tails:
            if (heads, tails, alone) != (1, 1, 0):
                multi = (
                    "with k-steps > 1 the MatMuls must be one head plus "
                    "one tail, or standalone"
                )
        elif alone > 1:
            multi = "at most one standalone MatMul when k-steps > 1"
        square = len(self.matmuls) >= 3 or Role.MIDDLE in values
        return FusionFacts(None, tuple(wide), multi, square)

    def fusion_violation(self, grain: Grain) -> str | None:
        """Why the fusion rules (SPEC §4 item 7) reject this, or None."""
        always, wide, multi, square = self.fusion_facts
        if always is not None:
            return always
        p = self.problem
        if self.num_k_steps(grain.k) > 1:
            for o, c, k_op, axis in wide:
                if axis == "w" and grain.w < k_op:
                    return (
                        f"op {o}: Pointwise LHS of MatMul {c} needs "
                        f"w >= K = {k_op} when k-steps > 1"
                    )
                if axis == "h" and grain.h < k_op:
                    return (
                        f"op {o}: Pointwise RHS of MatMul {c} needs "
                        f"h >= K = {k_op} when k-steps > 1"
                    )
            return multi
        if square:
            for m in self.matmuls:
                if grain.w != grain.k or p.k_op[m] != grain.k:
                    return (
                        f"op {m}: chains of 3+ MatMuls need w = k = K "
                        f"(w={grain.w}, k={grain.k}, K={p.k_op[m]})"
                    )
        return None

    def shape_violation(self) -> tuple[str, str] | None:
        """(category, message) for SPEC §4 item 8, or None."""
        if not self.outputs:
            return "no_output", "the subgraph has no output"
        p = self.problem
        width, height = self.grid_shape
        for t in self.outputs[1:]:
            if (p.widths[t], p.heights[t]) != (width, height):
                return (
                    "output_shape_mismatch",
                    f"tensor {t} is {p.heights[t]}x{p.widths[t]} (HxW) but "
                    f"tensor {self.outputs[0]} is {height}x{width}",
                )
        return None

    @cached_property
    def signature(self) -> tuple[object, ...]:
        """This subgraph's :func:`shape_signature`, computed once."""
        return shape_signature(
            self.problem, self.ops, self.retain_in, self.retain_out
        )

    @cached_property
    def cost_memo(self) -> dict[object, Any]:
        """Memo of what :mod:`mlsched.model.cost` derives from the
        subgraph alone or at one k (load profiles, k-step costs), keyed
        and filled there, on demand.

        Shared by every view of the problem with this view's
        :func:`shape_signature`: they are the same subgraph up to a
        renaming, and the searches and costings of a solve build many
        views of each.
        """
        return _COST_MEMOS[self.problem].setdefault(self.signature, {})

    @cached_property
    def ws_terms(self) -> WorkingSetTerms:
        """Working-set coefficients (SPEC §6), grouped by slice shape."""
        p = self.problem
        fixed = sum(p.sizes[t] for t in self.retain_in)
        planes = len(self.outputs)
        lhs = rhs = hl = hr = mid = 0
        alone_lhs: list[int] = []
        alone_rhs: list[int] = []
        for u in self.uses:
            kind = u.kind
            if kind is Kind.PW:
                planes += 1
            elif kind in (Kind.LHS, Kind.RHS):
                alone = self.roles[u.op] is Role.STANDALONE
                if kind is Kind.LHS:
                    if alone:
                        alone_lhs.append(u.k_op)
                    else:
                        lhs += 1
                elif alone:
                    alone_rhs.append(u.k_op)
                else:
                    rhs += 1
            elif kind is Kind.HL_LHS:
                hl += 1
            elif kind is Kind.HR_RHS:
                hr += 1
            else:
                mid += 1
        k_up = self.k_up
        return WorkingSetTerms(
            fixed=fixed,
            planes=planes,
            lhs=lhs,
            rhs=rhs,
            head_lhs=hl * k_up,
            head_rhs=hr * k_up,
            streaming=mid * k_up,
            alone_lhs=tuple(alone_lhs),
            alone_rhs=tuple(alone_rhs),
            k_slicing=self.k_slicing,
        )

    def working_set(self, grain: Grain) -> int:
        """Peak fast-memory use at k-step 0 (SPEC §6)."""
        clock.count(clock.WORKING_SET_UNITS)
        w, h, k = grain.w, grain.h, grain.k
        t = self.ws_terms
        # Without MatMuls every term but the first two is 0.
        ks = min(k, t.k_slicing)
        ws = (
            t.fixed
            + t.planes * h * w
            + h * (t.lhs * ks + t.head_lhs)
            + w * (t.rhs * ks + t.head_rhs)
            + t.streaming * ks
        )
        if not (t.alone_lhs or t.alone_rhs):
            return ws
        # k_eff(m, 0): a standalone MatMul covers its K at one k-step.
        if self.num_k_steps(k) == 1:
            return ws + h * sum(t.alone_lhs) + w * sum(t.alone_rhs)
        k_lhs = sum(min(k, k_op) for k_op in t.alone_lhs)
        k_rhs = sum(min(k, k_op) for k_op in t.alone_rhs)
        return ws + h * k_lhs + w * k_rhs

    def strict_violation(self, grain: Grain) -> tuple[str, str] | None:
        """(category, message) for SPEC §8 items 1-3, or None."""
        p = self.problem
        if grain.k > p.k_native:
            return (
                "k_above_native",
                f"k = {grain.k} exceeds the native depth {p.k_native}",
            )
        for m in self.matmuls:
            if grain.k > p.k_op[m]:
                return (
                    "k_above_reduction",
                    f"k = {grain.k} exceeds K = {p.k_op[m]} of op {m}",
                )
        if not self.connected():
            return "disconnected", "the ops of the subgraph are not connected"
        return None

    def connected(self) -> bool:
        """Whether the ops are linked by produce/consume or shared reads."""
        return self._connected

    @cached_property
    def _connected(self) -> bool:
        p = self.problem
        if len(self.ops) <= 1:
            return True
        readers: dict[int, list[int]] = {}
        for o in self.ops:
            for t in p.inputs[o]:
                readers.setdefault(t, []).append(o)
        seen = {self.ops[0]}
        stack = [self.ops[0]]
        while stack:
            o = stack.pop()
            linked = [
                x
                for t in (*p.inputs[o], *p.outputs[o])
                for x in readers.get(t, ())
            ]
            linked += [
                self.produced[t] for t in p.inputs[o] if t in self.produced
            ]
            for x in linked:
                if x not in seen:
                    seen.add(x)
                    stack.append(x)
        return len(seen) == len(self.opset)


def shape_signature(
    problem: Problem,
    ops: tuple[int, ...],
    retain_in: frozenset[int],
    retain_out: frozenset[int],
) -> tuple[object, ...]:
    """What a subgraph's costs and rules depend on, free of ids.

    Two subgraphs with equal signatures are the same subgraph up to a
    renaming of ops and tensors: per op, its type, base cost and the
    local names of its tensors (numbered by first use); per tensor, its
    shape and whether it is a graph output, retained in or retained out;
    and the sizes of tensors retained in but never read (they still take
    fast memory). Nothing else of the problem enters SPEC §3-§8 for one
    subgraph, so their granularity choices are the same.
    """
    p = problem
    local: dict[int, int] = {}
    op_sig = []
    for o in ops:
        names = tuple(
            local.setdefault(t, len(local))
            for t in (*p.inputs[o], *p.outputs[o])
        )
        op_sig.append(
            (p.is_matmul[o], p.base_costs[o], len(p.inputs[o]), names)
        )
    outputs, tensors = p.graph_outputs, []
    for t in local:
        flags = (t in outputs) + 2 * (t in retain_in) + 4 * (t in retain_out)
        tensors.append((p.heights[t], p.widths[t], flags))
    unread = sorted(p.sizes[t] for t in retain_in if t not in local)
    return tuple(op_sig), tuple(tensors), tuple(unread)
