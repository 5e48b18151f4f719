"""The ``mlsched`` command line: a thin layer over the public API."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import NoReturn

from mlsched.model import Evaluation, InputError, evaluate

EXIT_OK, EXIT_INVALID, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _fmt_ops(ops: Sequence[int], limit: int = 28) -> str:
    text = ",".join(str(o) for o in ops)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_evaluation(ev: Evaluation) -> str:
    """A per-subgraph table and the total, as the CLI prints it."""
    if not ev.valid:
        return f"INVALID [{ev.category}] ({ev.rules}): {ev.message}"
    head = (
        f"{'#':>4} {'ops':<28} {'[w,h,k]':<15} {'tiles x k':>12} "
        f"{'working set':>17} {'bound':<7} {'latency':>14}"
    )
    lines = [head, "-" * len(head)]
    for r in ev.subgraphs:
        c = r.cost
        nw, nh = c.tiles
        grain = "[{},{},{}]".format(*r.granularity)
        ws = f"{c.working_set}/{r.capacity}"
        lines.append(
            f"{r.index:>4} {_fmt_ops(r.ops):<28} {grain:<15} "
            f"{f'{nw * nh}x{c.k_steps}':>12} {ws:>17} {c.bottleneck:<7} "
            f"{c.latency:>14.1f}"
        )
    lines.append("-" * len(head))
    lines.append(
        f"valid ({ev.rules}): {len(ev.subgraphs)} subgraphs, total latency "
        f"{ev.total_latency:.1f}"
    )
    lines.extend(f"warning: {w}" for w in ev.warnings)
    return "\n".join(lines)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    ev = evaluate(args.problem, args.solution, rules=args.rules)
    if args.json:
        print(json.dumps(ev.to_dict(), indent=2))
    else:
        print(format_evaluation(ev))
    return EXIT_OK if ev.valid else EXIT_INVALID


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mlsched`` command."""
    parser = _Parser(
        prog="mlsched",
        description="Schedules for ML computational graphs (MLSys 2026).",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser
    )

    ev = sub.add_parser(
        "evaluate",
        help="check a schedule and print its exact latency",
        description="Check a schedule against the rules and print its "
        "per-subgraph latency. Exit 0 valid, 1 invalid, 2 bad input.",
    )
    ev.add_argument("problem", help="problem JSON path or bundled name")
    ev.add_argument("solution", help="solution JSON path")
    _add_rules(ev)
    ev.add_argument(
        "--json", action="store_true", help="print the verdict as JSON"
    )
    ev.set_defaults(func=_cmd_evaluate)
    return parser


def _add_rules(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rules",
        choices=("strict", "contest"),
        default="strict",
        help="rule profile (default: strict)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except InputError as exc:
        print(f"mlsched: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("mlsched: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
