"""Drawing a schedule: timeline, fast-memory use and floors.

Needs matplotlib (``pip install "mlsched[plot]"``); everything else in
mlsched works without it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from mlsched.model import (
    Evaluation,
    Problem,
    Solution,
    SubgraphReport,
    evaluate,
)
from mlsched.model.bounds import compute_floor, io_floor
from mlsched.model.types import Rules

#: Figure size in inches and resolution: 1200 x 700 pixels.
FIGSIZE = (12.0, 7.0)
DPI = 100

COLOURS = {"compute": "#4c72b0", "memory": "#dd8452", "mixed": "#8172b3"}


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable(
            'plotting needs matplotlib: pip install "mlsched[plot]"'
        ) from None
    return plt


def plot_schedule(
    problem: Problem,
    solution: Solution,
    path: str | os.PathLike[str],
    rules: Rules = "strict",
    name: str | None = None,
    labels: Sequence[str] | None = None,
) -> Evaluation:
    """Draw a valid schedule to ``path`` (PNG, SVG or PDF by extension).

    The top panel is a timeline: one bar per subgraph, as wide as its
    latency, coloured by bottleneck and labelled with its ops where they
    fit. The bottom panel shows each subgraph's working set, split into
    the tensors retained into it and the rest, against the capacity. The
    title names the instance, the total latency and the compute and I/O
    floors. ``labels`` (one per op, e.g. from a names sidecar) replace
    the op ids on the bars.

    Returns
    -------
    Evaluation
        The evaluation the drawing is made from.

    Raises
    ------
    PlotUnavailable
        Without matplotlib.
    ValueError
        If the schedule is invalid under ``rules``.
    """
    ev = evaluate(problem, solution, rules)
    if not ev.valid:
        raise ValueError(
            f"cannot plot an invalid schedule [{ev.category}]: {ev.message}"
        )
    plt = _pyplot()
    from matplotlib.patches import Patch

    fig, (top, bottom) = plt.subplots(
        2,
        1,
        figsize=FIGSIZE,
        dpi=DPI,
        sharex=True,
        gridspec_kw={"height_ratios": [1, 1.4]},
    )
    total = ev.total_latency
    start = 0.0
    for r in ev.subgraphs:
        _draw_subgraph(top, bottom, problem, r, start, total, labels)
        start += r.latency
    _finish_timeline(top, total, Patch)
    _finish_memory(bottom, total, problem.fast_memory_capacity, Patch)
    heading = name or "schedule"
    fig.suptitle(
        f"{heading}: total latency {total:,.1f} ({rules}, "
        f"{len(ev.subgraphs)} subgraphs)   compute floor "
        f"{compute_floor(problem):,.0f}   I/O floor {io_floor(problem):,.0f}",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return ev


def _draw_subgraph(
    top: Any,
    bottom: Any,
    problem: Problem,
    r: SubgraphReport,
    start: float,
    total: float,
    labels: Sequence[str] | None,
) -> None:
    """Subgraph ``r``'s bar on the timeline ``top``, labelled where the
    label fits, and its working set on ``bottom``, from ``start``."""
    width = r.latency
    colour = COLOURS[r.cost.bottleneck]
    top.barh(0, width, left=start, height=0.8, color=colour, edgecolor="white")
    label = ",".join(str(o) if labels is None else labels[o] for o in r.ops)
    if width > total * 0.012 * max(1, len(label)) / 3:
        top.text(
            start + width / 2,
            0,
            label,
            ha="center",
            va="center",
            fontsize=7,
            color="white",
            clip_on=True,
        )
    retained = sum(problem.sizes[t] for t in r.retained_in)
    own = r.cost.working_set - retained
    bottom.bar(
        start,
        own,
        width=width,
        align="edge",
        color="#55a868",
        edgecolor="white",
    )
    if retained:
        bottom.bar(
            start,
            retained,
            bottom=own,
            width=width,
            align="edge",
            color="#c44e52",
            edgecolor="white",
        )


def _finish_timeline(top: Any, total: float, patch: Any) -> None:
    """Axes, title and bottleneck legend of the timeline panel."""
    top.set_yticks([])
    top.set_xlim(0, total)
    top.set_title("subgraphs (bar width = latency)", fontsize=9, loc="left")
    top.legend(
        handles=[
            patch(color=c, label=f"{k}-bound") for k, c in COLOURS.items()
        ],
        loc="upper right",
        fontsize=8,
        ncol=3,
    )


def _finish_memory(
    bottom: Any, total: float, capacity: int, patch: Any
) -> None:
    """Capacity line, axes, title and legend of the memory panel."""
    bottom.axhline(capacity, color="black", linestyle="--", linewidth=1)
    bottom.text(
        total, capacity, " capacity", va="bottom", ha="right", fontsize=8
    )
    bottom.set_ylim(0, capacity * 1.12)
    bottom.set_ylabel("fast memory (elements)")
    bottom.set_xlabel("time")
    bottom.set_title("working set per subgraph", fontsize=9, loc="left")
    bottom.legend(
        handles=[
            patch(color="#55a868", label="tiles and outputs"),
            patch(color="#c44e52", label="retained from previous"),
        ],
        loc="upper left",
        fontsize=8,
    )
