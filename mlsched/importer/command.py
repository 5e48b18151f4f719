"""The ``mlsched import`` subcommand (registered in :mod:`mlsched.cli`)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from mlsched.importer import from_onnx
from mlsched.importer.devices import (
    DEFAULT_DEVICE,
    adjusted,
    device_presets,
    get_device,
)
from mlsched.model.io import InputError, write_json_atomic


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``mlsched import``."""
    parser.add_argument("model", nargs="?", help="the .onnx file")
    parser.add_argument(
        "-o", "--output", help="problem JSON to write (default: stdout)"
    )
    parser.add_argument(
        "--names",
        metavar="NAMES.json",
        help="also write op and tensor ids -> ONNX node and value names",
    )
    parser.add_argument(
        "--device",
        default=DEFAULT_DEVICE,
        help=f"device preset (default {DEFAULT_DEVICE}; see --list-devices)",
    )
    parser.add_argument(
        "--list-devices", action="store_true", help="list the presets"
    )
    for flag, kind, text in (
        ("--capacity", int, "fast memory in elements"),
        ("--bandwidth", float, "slow-memory elements per time unit"),
        ("--throughput", float, "MatMul flops per time unit"),
        ("--vector-throughput", float, "Pointwise operations per time unit"),
    ):
        parser.add_argument(flag, type=kind, help=f"override: {text}")
    parser.add_argument(
        "--native",
        type=int,
        nargs=2,
        metavar=("W", "H"),
        help="override: native tile width and height",
    )
    parser.add_argument(
        "--seq-len", type=int, help="bind sequence-length dimensions"
    )
    parser.add_argument("--batch", type=int, help="bind batch dimensions")
    parser.add_argument(
        "--dim",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="bind a symbolic dimension by name (repeatable)",
    )
    parser.add_argument(
        "--skip-unsupported",
        action="store_true",
        help="import unsupported nodes as Pointwise ops (with a warning)",
    )


def _dims(pairs: list[str]) -> dict[str, int]:
    dims: dict[str, int] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not (sep and name and value.strip().isdigit()):
            raise InputError(f"--dim {pair!r}: expected NAME=VALUE")
        dims[name] = int(value)
    return dims


def _out_path(path: str | None, flag: str) -> None:
    if path is None:
        return
    target = Path(path)
    if not path or target.is_dir():
        raise InputError(f"{flag} {path!r} is not a file path")
    if not target.resolve().parent.is_dir():
        raise InputError(f"{flag}: directory {target.parent} does not exist")


def run(args: argparse.Namespace) -> int:
    """Import a model; returns the exit code (errors raise InputError)."""
    if args.list_devices:
        for name, dev in device_presets().items():
            print(f"{name:<12} {dev.description}")
        return 0
    if args.model is None:
        raise InputError("import needs a model file (or --list-devices)")
    _out_path(args.output, "-o/--output")
    _out_path(args.names, "--names")
    device = adjusted(
        get_device(args.device),
        fast_memory_capacity=args.capacity,
        slow_memory_bandwidth=args.bandwidth,
        throughput=args.throughput,
        vector_throughput=args.vector_throughput,
        native_granularity=tuple(args.native) if args.native else None,
    )
    result = from_onnx(
        args.model,
        device,
        seq_len=args.seq_len,
        batch=args.batch,
        dims=_dims(args.dim),
        skip_unsupported=args.skip_unsupported,
    )
    for warning in result.warnings:
        print(f"mlsched: warning: {warning}", file=sys.stderr)
    problem = result.problem
    if args.output is None:
        print(problem.model_dump_json())
    else:
        write_json_atomic(args.output, problem.model_dump(mode="json"))
    if args.names is not None:
        write_json_atomic(args.names, result.names.model_dump(mode="json"))
    counts = Counter(problem.op_types)
    changed = device != get_device(args.device)
    print(
        f"{args.model}: {problem.num_ops} ops ({counts['MatMul']} MatMul, "
        f"{counts['Pointwise']} Pointwise), {problem.num_tensors} tensors, "
        f"device {args.device}{' (adjusted)' if changed else ''}"
        + (f" -> {args.output}" if args.output else ""),
        file=sys.stderr if args.output is None else sys.stdout,
    )
    return 0
