"""Accelerator descriptions: the numbers that turn work into costs.

Named presets live in ``mlsched/data/devices.toml``; a :class:`Device`
can also be built directly, or a preset adjusted with
:meth:`Device.model_copy` (``update={...}``).
"""

from __future__ import annotations

import sys
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlsched.model.io import InputError, _one_line

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the onnx extra installs tomli there
    import tomli as tomllib

DEFAULT_DEVICE = "contest"


class Device(BaseModel):
    """An accelerator as the cost model sees it.

    Parameters
    ----------
    throughput
        MatMul work per time unit, in flops (a multiply-add is 2).
    vector_throughput
        Pointwise work per time unit, in element operations.
    fast_memory_capacity
        Fast memory, in elements.
    slow_memory_bandwidth
        Elements moved between slow and fast memory per time unit.
    native_granularity
        ``[w_native, h_native]`` of the compute unit.
    description
        One line saying what the device is.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    throughput: float = Field(gt=0, allow_inf_nan=False)
    vector_throughput: float = Field(gt=0, allow_inf_nan=False)
    fast_memory_capacity: int = Field(gt=0)
    slow_memory_bandwidth: float = Field(gt=0, allow_inf_nan=False)
    native_granularity: tuple[int, int]
    description: str = ""


@cache
def device_presets() -> dict[str, Device]:
    """The named presets of ``mlsched/data/devices.toml``.

    Returns
    -------
    dict
        Preset name to :class:`Device`, in file order.
    """
    ref = resources.files("mlsched") / "data" / "devices.toml"
    table = tomllib.loads(ref.read_text())
    presets: dict[str, Device] = {}
    for name, fields in table.items():
        presets[name] = _validated(name, fields)
    return presets


def _validated(name: str, fields: Any) -> Device:
    if not isinstance(fields, dict):
        raise InputError(f"device preset {name!r} is not a table")
    data = dict(fields)
    for key in ("throughput", "vector_throughput", "slow_memory_bandwidth"):
        if isinstance(data.get(key), int):
            data[key] = float(data[key])
    if isinstance(data.get("native_granularity"), list):
        data["native_granularity"] = tuple(data["native_granularity"])
    try:
        return Device.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"device preset {name!r}: {_one_line(exc)}") from None


def get_device(device: str | Device | None) -> Device:
    """A :class:`Device` from a preset name, a device, or None (default).

    Raises
    ------
    InputError
        If the name is not a preset.
    """
    if isinstance(device, Device):
        return device
    name = DEFAULT_DEVICE if device is None else device
    presets = device_presets()
    if name not in presets:
        raise InputError(
            f"unknown device preset {name!r} (known: {', '.join(presets)})"
        )
    return presets[name]


def adjusted(device: Device, **changes: Any) -> Device:
    """``device`` with some fields replaced (None keeps a field), checked.

    Raises
    ------
    InputError
        If a new value is out of range (non-positive, wrong shape).
    """
    data = device.model_dump()
    data.update({k: v for k, v in changes.items() if v is not None})
    try:
        return Device.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"device {_one_line(exc)}") from None
