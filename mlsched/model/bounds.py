"""Simple reference floors of a problem (SPEC §11)."""

from __future__ import annotations

from mlsched.model.problem import Problem


def compute_floor(problem: Problem) -> float:
    """Sum of base cost times native output tiles over all ops.

    Not a strict lower bound in every case: an op computed on the grid of
    a smaller subgraph output pays for fewer tiles.
    """
    w_native, h_native = problem.native_granularity
    total = 0.0
    for o, outs in enumerate(problem.outputs):
        t = outs[0]
        tiles = -(-problem.widths[t] // w_native) * -(
            -problem.heights[t] // h_native
        )
        total += problem.base_costs[o] * tiles
    return total


def io_floor(problem: Problem) -> float:
    """Time to move every graph input and output once."""
    moved = sum(
        problem.sizes[t] for t in problem.graph_inputs | problem.graph_outputs
    )
    return moved / problem.slow_memory_bandwidth
