"""Loading problems and solutions from paths, bundled names or dicts."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from mlsched.model.problem import Problem
from mlsched.model.solution import Solution

Source = str | os.PathLike[str] | dict[str, Any]


class InputError(ValueError):
    """A malformed or unreadable problem or solution.

    The message is a single line that names what is wrong.
    """


def bundled_instances() -> dict[str, str]:
    """Bundled instance names mapped to their package-relative paths.

    Returns
    -------
    dict
        ``{"mlsys-2026-1": "benchmarks/mlsys-2026-1.json", ...,
        "example1": "examples/example1.json", ...}``.
    """
    root = resources.files("mlsched") / "data"
    names: dict[str, str] = {}
    for folder in ("benchmarks", "examples"):
        for entry in (root / folder).iterdir():
            if entry.name.endswith(".json"):
                names[entry.name[: -len(".json")]] = f"{folder}/{entry.name}"
    return dict(sorted(names.items(), key=lambda kv: natural_key(kv[0])))


def benchmark_names() -> list[str]:
    """Names of the 24 bundled contest benchmarks, in numeric order."""
    return [n for n in bundled_instances() if n.startswith("mlsys-")]


def natural_key(name: str) -> tuple[str | int, ...]:
    """A sort key that puts ``g2`` before ``g10``: digit runs as numbers."""
    parts = re.split(r"(\d+)", name)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def _read(source: object, what: str) -> tuple[Any, str]:
    """The parsed JSON of ``source`` and a label naming it."""
    if isinstance(source, dict):
        return source, "(dict)"
    if not isinstance(source, (str, os.PathLike)):
        raise InputError(
            f"{what}: expected a path, bundled name or dict, got "
            f"{type(source).__name__}"
        )
    path = Path(source)
    # One-line errors even for file names with control characters.
    label = str(source).encode("unicode_escape").decode("ascii")
    if not path.exists():
        bundled = bundled_instances()
        name = str(source)
        if name.endswith(".json"):
            name = name[: -len(".json")]
        if what == "problem" and name in bundled:
            ref = resources.files("mlsched") / "data" / bundled[name]
            return json.loads(ref.read_text()), name
        hint = " or bundled instance" if what == "problem" else ""
        raise InputError(f"{what} {label}: no such file{hint}")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} {label}: cannot read: {exc}") from None
    try:
        return json.loads(text, parse_int=_parse_int), label
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{what} {label}: invalid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from None
    except ValueError as exc:  # e.g. integers beyond Python's digit limit
        raise InputError(f"{what} {label}: invalid JSON: {exc}") from None
    except RecursionError:
        raise InputError(f"{what} {label}: JSON nested too deeply") from None


def _parse_int(digits: str) -> int | float:
    # Python refuses to convert integers of over 4300 digits; no valid
    # field holds one, so map it to inf and let validation name the field.
    if len(digits.lstrip("-")) > 4000:
        return math.inf if not digits.startswith("-") else -math.inf
    return int(digits)


def _one_line(exc: ValidationError) -> str:
    """The first validation error as ``field[i]: message``."""
    err = exc.errors(include_url=False)[0]
    loc = "".join(
        f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]
    ).lstrip(".")
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    extra = f" (and {len(exc.errors()) - 1} more)" if exc.errors()[1:] else ""
    where = f"{loc}: " if loc else ""
    return f"{where}{msg}{extra}".replace("\n", " ")


_Model = TypeVar("_Model", Problem, Solution)


def _load(kind: type[_Model], source: Source | _Model, what: str) -> _Model:
    """``source`` as a validated ``kind``; ``what`` names it in errors."""
    if isinstance(source, kind):
        return source
    data, label = _read(source, what)
    if not isinstance(data, dict):
        raise InputError(f"{what} {label}: expected a JSON object")
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{what} {label}: {_one_line(exc)}") from None


def load_problem(source: Source | Problem) -> Problem:
    """Load and validate a problem.

    Parameters
    ----------
    source
        A path to a contest JSON file, a bundled instance name such as
        ``"mlsys-2026-5"`` or ``"example3"``, a parsed dict, or a
        :class:`Problem` (returned as is).

    Returns
    -------
    Problem
        The validated problem.

    Raises
    ------
    InputError
        If the source cannot be read or does not describe a valid problem.
    """
    return _load(Problem, source, "problem")


def load_solution(source: Source | Solution) -> Solution:
    """Load a solution (structure only; rules are checked by ``evaluate``).

    Parameters
    ----------
    source
        A path to a contest JSON file, a parsed dict, or a
        :class:`Solution` (returned as is).

    Returns
    -------
    Solution
        The parsed solution.

    Raises
    ------
    InputError
        If the source cannot be read or is not a solution object.
    """
    return _load(Solution, source, "solution")


def _umask() -> int:
    # The umask can only be read by setting it; set it straight back.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file + rename.

    A reader never sees a half-written file, and an existing file is only
    replaced once the new one is complete.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=directory
    )
    try:
        # mkstemp makes the file private; give it the usual permissions.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
