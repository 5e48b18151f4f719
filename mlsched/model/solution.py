"""The solution schema: the five contest lists (SPEC §2)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from mlsched.model.problem import _intfloat, _tuplify

FIELDS = (
    "subgraphs",
    "granularities",
    "tensors_to_retain",
    "traversal_orders",
    "subgraph_latencies",
)


class Solution(BaseModel):
    """A schedule in the contest JSON format.

    One entry per subgraph in each list. The lists may disagree in length
    or hold rule violations: those are verdicts of :func:`evaluate`, not
    schema errors. Only structural problems (missing or extra keys, wrong
    types, non-finite numbers) are rejected here.

    Parameters
    ----------
    subgraphs
        Op ids of each subgraph, in execution order.
    granularities
        ``[w, h, k]`` per subgraph.
    tensors_to_retain
        Tensors kept in fast memory for the next subgraph.
    traversal_orders
        A permutation of tile indices per subgraph, or ``None`` for raster.
    subgraph_latencies
        Claimed latency of each subgraph.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True, allow_inf_nan=False
    )

    subgraphs: tuple[tuple[int, ...], ...]
    granularities: tuple[tuple[int, ...], ...]
    tensors_to_retain: tuple[tuple[int, ...], ...]
    traversal_orders: tuple[tuple[int, ...] | None, ...]
    subgraph_latencies: tuple[float, ...]

    @model_validator(mode="before")
    @classmethod
    def _coerce_json(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        if data == {}:
            # The contest's "no solution": an empty schedule.
            return {name: () for name in FIELDS}
        out = {key: _tuplify(value) for key, value in data.items()}
        lat = out.get("subgraph_latencies")
        if isinstance(lat, tuple):
            out["subgraph_latencies"] = tuple(_intfloat(v) for v in lat)
        return out

    @property
    def num_subgraphs(self) -> int:
        """Number of subgraphs (length of ``subgraphs``)."""
        return len(self.subgraphs)

    def to_dict(self) -> dict[str, Any]:
        """The contest JSON object, with exactly the five contest keys."""
        return {
            "subgraphs": [list(s) for s in self.subgraphs],
            "granularities": [list(g) for g in self.granularities],
            "tensors_to_retain": [list(r) for r in self.tensors_to_retain],
            "traversal_orders": [
                None if t is None else list(t) for t in self.traversal_orders
            ],
            "subgraph_latencies": list(self.subgraph_latencies),
        }

    def to_json(self, indent: int | None = None) -> str:
        """The contest JSON text."""
        return json.dumps(self.to_dict(), indent=indent)
