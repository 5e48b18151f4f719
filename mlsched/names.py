"""The names sidecar: contest op and tensor ids back to model names.

``mlsched import --names NAMES.json`` writes one; ``mlsched evaluate`` and
``mlsched plot`` take ``--names`` to label ops with it. The problem file
itself stays pure contest format.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from mlsched.model.io import InputError, _one_line
from mlsched.model.problem import Problem


class OpName(BaseModel):
    """Where a contest op comes from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    node: str
    op_type: str


class TensorName(BaseModel):
    """Where a contest tensor comes from: rows and columns of a value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    value: str
    rows: tuple[int, int]
    cols: tuple[int, int]


class Names(BaseModel):
    """Per op and per tensor id, the model names they come from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    ops: tuple[OpName, ...]
    tensors: tuple[TensorName, ...]

    def op_label(self, op: int) -> str:
        """The display label of op ``op``."""
        return self.ops[op].label

    def check(self, problem: Problem) -> Names:
        """Return self if it matches the problem's op and tensor counts.

        Raises
        ------
        InputError
            If the counts differ (a sidecar of another problem).
        """
        if (len(self.ops), len(self.tensors)) != (
            problem.num_ops,
            problem.num_tensors,
        ):
            raise InputError(
                f"names of {self.model}: {len(self.ops)} ops and "
                f"{len(self.tensors)} tensors, but the problem has "
                f"{problem.num_ops} ops and {problem.num_tensors} tensors"
            )
        return self


def load_names(path: str | os.PathLike[str]) -> Names:
    """Read a names sidecar.

    Raises
    ------
    InputError
        If the file is missing, not JSON, or not a names sidecar.
    """
    label = str(path).encode("unicode_escape").decode("ascii")
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"names {label}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "unreadable"
        raise InputError(f"names {label}: {reason}") from None
    try:
        return Names.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"names {label}: {_one_line(exc)}") from None
