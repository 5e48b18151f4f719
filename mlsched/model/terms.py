"""Working set and least traffic of one op in one configuration.

The inequalities of docs/lower-bound.md, section "One op's share", as
coefficients of :class:`mlsched.model.traffic.Terms`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlsched.model.traffic import Config, State, Terms

if TYPE_CHECKING:
    from mlsched.model.traffic import TrafficBound


@dataclass
class _Acc:
    """Working-set and traffic coefficients being summed (see Terms)."""

    kept: int = 0
    planes: int = 0
    ws0: int = 0
    ws_h: int = 0
    ws_w: int = 0
    ws_hw: int = 0
    m0: float = 0.0
    m_nw: float = 0.0
    m_nh: float = 0.0
    m_n: float = 0.0
    stores: float = 0.0


@dataclass(frozen=True)
class _MatMul:
    """What a MatMul's slices depend on in one configuration.

    ``ks`` is K_slicing, ``step`` min(k, K_slicing) at the cheapest k
    (1 with several k-steps, K_slicing with one), ``wt_*`` the load
    shares of the LHS and RHS (0 when not loaded).
    """

    k_op: int
    ks: int
    step: int
    width: int
    height: int
    many: bool
    wt_l: float
    wt_r: float
    load_l: bool
    load_r: bool


def op_terms(tb: TrafficBound, o: int, cfg: Config) -> Terms | None:
    """The terms of op o's appearance in ``cfg``; None if no valid
    subgraph can give it that configuration."""
    p = tb.p
    ins = list(dict.fromkeys(p.inputs[o]))
    kept = sum(p.sizes[t] for t, s in zip(ins, cfg.ins) if s is State.KEPT)
    planes = sum(s is not State.EPH for s in cfg.outs)
    stores = float(
        sum(
            p.sizes[t]
            for t, s in zip(p.outputs[o], cfg.outs)
            if s is State.EVICT
        )
    )
    acc = _Acc(
        kept=kept,
        planes=planes,
        ws0=kept,
        ws_hw=max(1, planes),
        m0=stores,
        stores=stores,
    )
    if not p.is_matmul[o]:
        width, height = cfg.grid
        for t, s in zip(ins, cfg.ins):
            if s is State.LOAD:  # (r, c, -) slices: every tile, once
                acc.ws_hw += 1
                acc.m0 += tb.weight.get((t, o), 0.0) * width * height
        return _terms(tb, o, cfg, acc)
    return _matmul_terms(tb, o, cfg, acc)


def _terms(
    tb: TrafficBound,
    o: int,
    cfg: Config,
    acc: _Acc,
    m_x: float = 0.0,
    w_min: int = 1,
    h_min: int = 1,
    w_eq: int = 0,
    ends: tuple[tuple[float, float], ...] = ((1.0, 0.0),),
) -> Terms:
    return Terms(
        grid=cfg.grid,
        base=tb.p.base_costs[o],
        kept=acc.kept,
        planes=acc.planes,
        ws0=acc.ws0,
        ws_h=acc.ws_h,
        ws_w=acc.ws_w,
        ws_hw=acc.ws_hw,
        m0=acc.m0,
        m_nw=acc.m_nw,
        m_nh=acc.m_nh,
        m_n=acc.m_n,
        m_x=m_x,
        w_min=w_min,
        h_min=h_min,
        w_eq=w_eq,
        stores=acc.stores,
        many=cfg.many,
        ends=ends,
    )


def _role(tb: TrafficBound, o: int, cfg: Config) -> tuple[bool, bool]:
    """(LHS is an ephemeral MatMul output, RHS is one)."""
    p = tb.p
    ins = list(dict.fromkeys(p.inputs[o]))
    flags = []
    for t in p.inputs[o]:
        src = p.producer.get(t)
        eph = cfg.ins[ins.index(t)] is State.EPH
        flags.append(eph and src is not None and p.is_matmul[src])
    return flags[0], flags[1]


def _k_slicing(tb: TrafficBound, o: int, cfg: Config, chained: bool) -> int:
    """K_slicing of o's subgraph as o's role fixes it (SPEC §3)."""
    p = tb.p
    if chained or cfg.feed is None:
        return p.k_op[o]  # tail, middle or standalone
    out = p.outputs[o][0]
    # The tail reads o's output: its K is that output's width (LHS
    # chain) or height (RHS chain).
    return p.widths[out] if cfg.feed == "lhs" else p.heights[out]


def _steps_allowed(tb: TrafficBound, o: int, cfg: Config, ks: int) -> bool:
    """Whether o's role allows cfg.many (several k-steps) or one."""
    p = tb.p
    el, er = _role(tb, o, cfg)
    middle = (el or er) and cfg.feed is not None
    if cfg.many:
        return not middle and ks >= 2
    if tb.rules == "contest":
        return True
    # strict: k <= k_native and k <= K of every MatMul, one step: k >= ks.
    return ks <= min(p.k_native, p.k_op[o])


def _pointwise_floor(tb: TrafficBound, o: int, cfg: Config) -> tuple[int, int]:
    """(w_min, h_min): a Pointwise output read ephemerally as LHS (RHS)
    needs w (h) >= K when k-steps > 1 (SPEC §4 item 7)."""
    p = tb.p
    if not cfg.many:
        return 1, 1
    ins = list(dict.fromkeys(p.inputs[o]))
    floors = []
    for t in p.inputs[o]:
        src = p.producer.get(t)
        eph = cfg.ins[ins.index(t)] is State.EPH
        pointwise = src is not None and not p.is_matmul[src]
        floors.append(p.k_op[o] if eph and pointwise else 1)
    return floors[0], floors[1]


def _matmul_terms(
    tb: TrafficBound, o: int, cfg: Config, acc: _Acc
) -> Terms | None:
    p = tb.p
    el, er = _role(tb, o, cfg)
    chained = el or er
    ks = _k_slicing(tb, o, cfg, chained)
    if not _steps_allowed(tb, o, cfg, ks):
        return None
    lhs, rhs = p.inputs[o]
    ins = list(dict.fromkeys(p.inputs[o]))
    load_l = cfg.ins[ins.index(lhs)] is State.LOAD
    load_r = cfg.ins[ins.index(rhs)] is State.LOAD
    mm = _MatMul(
        k_op=p.k_op[o],
        ks=ks,
        step=1 if cfg.many else ks,
        width=cfg.grid[0],
        height=cfg.grid[1],
        many=cfg.many,
        wt_l=_share(tb, o, cfg, lhs, chained) if load_l else 0.0,
        # One tensor on both sides: charge its LHS slices only.
        wt_r=(
            _share(tb, o, cfg, rhs, chained) if load_r and lhs != rhs else 0.0
        ),
        load_l=load_l,
        load_r=load_r,
    )
    head = cfg.feed if not chained else None
    if head == "lhs":
        _lhs_head(acc, mm)
    elif head == "rhs":
        _rhs_head(acc, mm)
    else:
        _sliced(acc, mm)
    m_x = 0.0
    if load_l and load_r and lhs != rhs and head is None and not cfg.many:
        m_x = min(mm.wt_l, mm.wt_r) * ks
    w_min, h_min = _pointwise_floor(tb, o, cfg)
    middle = chained and cfg.feed is not None
    return _terms(
        tb,
        o,
        cfg,
        acc,
        m_x,
        w_min,
        h_min,
        p.k_op[o] if middle else 0,
        _step_shares(tb, ks) if cfg.many else ((1.0, 0.0),),
    )


def _step_shares(tb: TrafficBound, ks: int) -> tuple[tuple[float, float], ...]:
    """The corners of the possible (f, g): the shares of a MatMul's
    compute and per-step slices at k-step 0 and at the last k-step with
    several k-steps. f = k / K_slicing with k <= k_native in strict,
    g = k_last / K_slicing with 0 < k_last <= k, and f + g <= 1."""
    top = min(1.0, tb.p.k_native / ks) if tb.rules == "strict" else 1.0
    if top <= 0.5:
        return ((0.0, 0.0), (top, 0.0), (top, top))
    return ((0.0, 0.0), (top, 0.0), (top, 1 - top), (0.5, 0.5))


def _share(
    tb: TrafficBound, o: int, cfg: Config, t: int, chained: bool
) -> float:
    """Share of MatMul o's least load of t charged to o.

    With several k-steps the MatMuls of a subgraph are one standalone,
    or one head and one tail (SPEC §4 item 7), and every MatMul charged
    there has several k-steps too: a standalone is t's only MatMul
    reader, a head or tail shares t at most with its partner
    (docs/lower-bound.md, inequality (15)). With one k-step, the shares
    of :mod:`mlsched.model.payers`.
    """
    p = tb.p
    if not cfg.many:
        return tb.weight.get((t, o), 0.0)
    if chained:  # a tail: its partner made its ephemeral MatMul input
        ins = list(dict.fromkeys(p.inputs[o]))
        partners = {
            p.producer[u]
            for u, s in zip(ins, cfg.ins)
            if s is State.EPH and u in p.producer
        }
    elif cfg.feed is not None:  # a head: its partner reads its output
        partners = {c for u in p.outputs[o] for c in p.consumers[u]}
    else:
        return 1.0
    shared = any(p.is_matmul[c] and t in p.inputs[c] for c in partners)
    return 0.5 if shared else 1.0


def _sliced(acc: _Acc, mm: _MatMul) -> None:
    """Standalone, middle or tail: LHS (r,-,j) and RHS (-,c,j) slices."""
    if mm.load_l:
        acc.ws_h += mm.step
        if mm.many:  # reloaded at every cell: h_eff*K per tile
            acc.m_nw += mm.wt_l * mm.height * mm.ks
        else:  # each row strip at least once
            acc.m0 += mm.wt_l * mm.height * mm.ks
    if mm.load_r:
        acc.ws_w += mm.step
        if mm.many:
            acc.m_nh += mm.wt_r * mm.width * mm.ks
        else:
            acc.m0 += mm.wt_r * mm.width * mm.ks


def _lhs_head(acc: _Acc, mm: _MatMul) -> None:
    """LHS-head: LHS (r,-,-) strips, RHS (-,-,j) K x k blocks."""
    if mm.load_l:
        acc.ws_h += mm.k_op
        acc.m0 += mm.wt_l * mm.height * mm.k_op
    if mm.load_r:
        acc.ws0 += mm.k_op * mm.step
        if mm.many:  # the whole K x K_slicing block, every tile
            acc.m_n += mm.wt_r * mm.k_op * mm.ks
        else:
            acc.m0 += mm.wt_r * mm.k_op * mm.ks


def _rhs_head(acc: _Acc, mm: _MatMul) -> None:
    """RHS-head: LHS (-,-,j) k x K blocks, RHS (-,c,-) strips."""
    if mm.load_l:
        acc.ws0 += mm.k_op * mm.step
        if mm.many:
            acc.m_n += mm.wt_l * mm.k_op * mm.ks
        else:
            acc.m0 += mm.wt_l * mm.k_op * mm.ks
    if mm.load_r:
        acc.ws_w += mm.k_op
        acc.m0 += mm.wt_r * mm.width * mm.k_op
