"""The ``mlsched`` command line: a thin layer over the public API."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypeAlias

import mlsched
from mlsched.importer import command as import_command
from mlsched.model import (
    Evaluation,
    InputError,
    Solution,
    evaluate,
    load_problem,
    load_solution,
    write_json_atomic,
)
from mlsched.model.bounds import known_lower_bound, relative_gap
from mlsched.model.problem import Problem
from mlsched.model.result import Result
from mlsched.names import load_names

EXIT_OK, EXIT_INVALID, EXIT_BAD_INPUT = 0, 1, 2
# Interpreter start-up before mlsched is imported, counted against the
# --time-limit budget.
STARTUP_SECONDS = 0.05
# A solve still running this long after --time-limit is left at once
# with the best schedule on disk (the solver aims to finish 0.25 s before
# the limit; this bounds any overrun, whatever stage it is in, and leaves
# the rest of the 0.5 s allowance for a loaded machine to exit).
OVERRUN_SECONDS = 0.0
# With no schedule at all by then, wait this much longer for the first
# one (it comes within two seconds even at 10,000 ops).
FIRST_GRACE = 0.2


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


#: What ``add_subparsers`` returns: each subcommand's builder adds to it.
_SubParsers: TypeAlias = "argparse._SubParsersAction[_Parser]"


def _fmt_ops(
    ops: Sequence[int],
    limit: int = 28,
    labels: Sequence[str] | None = None,
) -> str:
    text = ",".join(str(o) if labels is None else labels[o] for o in ops)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_evaluation(
    ev: Evaluation, labels: Sequence[str] | None = None
) -> str:
    """A per-subgraph table and the total, as the CLI prints it.

    ``labels`` (one per op, e.g. from a names sidecar) replace op ids.
    """
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
            f"{r.index:>4} {_fmt_ops(r.ops, labels=labels):<28} {grain:<15} "
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


def _op_labels(args: argparse.Namespace, problem: Problem) -> list[str] | None:
    """Op labels from ``--names``, checked against the problem."""
    if args.names is None:
        return None
    names = load_names(args.names).check(problem)
    return [op.label for op in names.ops]


def _cmd_evaluate(args: argparse.Namespace) -> int:
    problem = load_problem(args.problem)
    labels = _op_labels(args, problem)
    ev = evaluate(problem, args.solution, rules=args.rules)
    if args.json:
        print(json.dumps(ev.to_dict(), indent=2))
    else:
        print(format_evaluation(ev, labels))
    return EXIT_OK if ev.valid else EXIT_INVALID


class _AnytimeWriter:
    """The best schedule so far, written atomically as it improves."""

    def __init__(
        self,
        output: str | None,
        quiet: bool,
        bound: Callable[[], float | None],
    ) -> None:
        self.output = output
        # The solve's proven bound once it has it: never computed here,
        # on the solve's thread, where it would eat the budget (4 s on a
        # 1,000-op graph in the contest profile).
        self.bound = bound
        self.quiet = quiet
        self.start = time.monotonic()
        self.solution: Solution | None = None
        self.objective = math.inf
        self.lock = threading.Lock()

    def improve(
        self, solution: Solution, objective: float, bound: float | None
    ) -> None:
        with self.lock:
            if objective >= self.objective:
                return
            self.solution, self.objective = solution, objective
            if self.output is not None:
                write_json_atomic(self.output, solution.to_dict())
        if not self.quiet:
            elapsed = time.monotonic() - self.start
            text = f"[{elapsed:7.2f}s] incumbent {objective:,.1f}"
            for name, value in (
                ("column lb", bound),
                ("proven lb", self.bound()),
            ):
                gap = relative_gap(objective, value)
                if value is not None and gap is not None:
                    text += f"  {name} {value:,.1f} (gap {gap:.2%})"
            print(text, file=sys.stderr, flush=True)

    def emit_stdout(self) -> None:
        if self.output is None and self.solution is not None:
            print(self.solution.to_json())


def _check_search_args(args: argparse.Namespace) -> None:
    """One-line errors for a non-positive time limit or worker count."""
    if args.time_limit is not None and not args.time_limit > 0:
        raise InputError(
            f"--time-limit must be positive, not {args.time_limit}"
        )
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be at least 1, not {args.workers}")
    if getattr(args, "deterministic", False) and (args.workers or 1) > 1:
        raise InputError(
            f"--deterministic runs one CP-SAT worker, not {args.workers}"
        )


def _cmd_solve(args: argparse.Namespace) -> int:
    from mlsched.solve import solve

    # Signals are noted from the very start: one that arrives while the
    # problem loads still leaves the first schedule, not a dead process.
    stopped: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        # Only note the signal: the main loop below acts on it, so the
        # handler never waits for a lock the interrupted code may hold.
        del frame
        stopped.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _check_search_args(args)
    _check_output(args.output)
    if args.log:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    problem = load_problem(args.problem)
    initial = None if args.initial is None else load_solution(args.initial)
    incumbent = _AnytimeWriter(
        args.output,
        args.quiet,
        functools.partial(known_lower_bound, problem, args.rules),
    )
    time_limit = hard_stop = args.time_limit
    if time_limit is not None:
        # The budget runs from process start, not from here; a
        # deterministic budget must not depend on how long loading took,
        # so the hard stop below is then its only link to the process.
        began = mlsched._STARTED - STARTUP_SECONDS
        if not args.deterministic:
            time_limit = max(0.05, time_limit - (time.perf_counter() - began))
        hard_stop = began + args.time_limit + OVERRUN_SECONDS
    results: list[Result] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result = solve(
                problem,
                method=args.method,
                rules=args.rules,
                time_limit=time_limit,
                num_workers=args.workers,
                seed=args.seed,
                log=args.log,
                on_improvement=incumbent.improve,
                initial_solution=initial,
                deterministic=args.deterministic,
            )
            results.append(result)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    reason = _wait(worker, stopped, incumbent, hard_stop)
    if reason is not None:
        _leave(incumbent, reason)
    if errors:
        raise errors[0]
    return _finish(args, incumbent, results[0])


def _check_output(output: str | None) -> None:
    """One-line errors for an output path that cannot be written."""
    if output is None:
        return
    if not output:
        raise InputError("-o/--output needs a file path")
    if Path(output).is_dir():
        raise InputError(f"output {output} is a directory")
    parent = Path(output).resolve().parent
    if not parent.is_dir():
        raise InputError(f"output directory {parent} does not exist")


def _wait(
    worker: threading.Thread,
    stopped: list[int],
    incumbent: _AnytimeWriter,
    hard_stop: float | None,
) -> str | None:
    """Wait for the solve; why to leave early (a signal, the time limit),
    or None once it has finished.

    At the time limit the best schedule so far is already on disk, so
    the process leaves whatever stage is still running; only with no
    schedule yet does it grant :data:`FIRST_GRACE` more seconds.
    """
    while worker.is_alive():
        if stopped:
            return f"stopped by signal {stopped[0]}"
        now = time.perf_counter()
        if (
            hard_stop is not None
            and now >= hard_stop
            and (
                incumbent.solution is not None
                or now >= hard_stop + FIRST_GRACE
            )
        ):
            return "time limit reached"
        worker.join(0.02)
    return None


def _leave(incumbent: _AnytimeWriter, reason: str) -> NoReturn:
    """Exit at once, mid-search, with the best schedule so far."""
    # Every improvement is already on disk; a partial write cannot
    # happen (temporary file + rename).
    with incumbent.lock:
        if incumbent.solution is None:
            print(f"mlsched: {reason} before any schedule", file=sys.stderr)
            sys.stderr.flush()
            os._exit(EXIT_INVALID)
        incumbent.emit_stdout()
        print(
            f"mlsched: {reason}; best latency {incumbent.objective:,.1f}",
            file=sys.stderr,
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_OK)


def _finish(
    args: argparse.Namespace, incumbent: _AnytimeWriter, result: Result
) -> int:
    """Write and report the final result of a solve that finished."""
    if result.solution is None:
        print(
            f"mlsched: no schedule ({result.status.value}): {result.message}",
            file=sys.stderr,
        )
        return EXIT_INVALID
    incumbent.improve(result.solution, result.objective, result.column_bound)
    if args.output is None:
        incumbent.emit_stdout()
        print(result.summary(), file=sys.stderr)
    else:
        print(result.summary())
        print(f"written to {args.output}")
    return EXIT_OK


def _cmd_benchmark(args: argparse.Namespace) -> int:
    from mlsched import bench
    from mlsched.executors import ExecutorUnavailable, make_executor
    from mlsched.model import benchmark_names

    instances = bench.resolve(args.instances or benchmark_names())
    if args.time_scale <= 0:
        raise InputError(
            f"--time-scale must be positive, not {args.time_scale}"
        )
    _check_search_args(args)
    if args.jobs < 1:
        raise InputError(f"--jobs must be at least 1, not {args.jobs}")
    if args.executor == "ray":
        jobs, workers = 0, args.workers or 1
    else:
        jobs, workers = bench.plan_workers(
            args.jobs, 1 if args.deterministic else args.workers
        )
    try:
        executor = make_executor(args.executor, jobs, args.address)
    except (ExecutorUnavailable, ValueError) as exc:
        raise InputError(str(exc)) from None

    def progress(
        done: int, total: int, row: bench.Row | bench.Failure
    ) -> None:
        text = (
            f"error: {row.error}"
            if isinstance(row, bench.Failure)
            else f"{row.latency:,.1f} ({row.runtime:.1f} s)"
        )
        print(
            f"[{done}/{total}] {row.instance}: {text}",
            file=sys.stderr,
            flush=True,
        )

    rows = bench.run(
        instances,
        method=args.method,
        rules=args.rules,
        time_scale=args.time_scale,
        time_limit=args.time_limit,
        num_workers=workers,
        seed=args.seed,
        deterministic=args.deterministic,
        out_dir=args.out,
        progress=None if args.quiet else progress,
        executor=executor,
    )
    where = (
        f"{jobs} job(s) x {workers} worker(s)"
        if args.executor == "local"
        else f"ray, {workers} worker(s) per task"
    )
    if args.deterministic:
        where += ", deterministic"
    print(
        f"method {args.method}, {args.rules} rules, time scale "
        f"{args.time_scale}, {where}, {bench.timestamp()}"
    )
    print(bench.table(rows))
    if args.out:
        bench.save(rows, args.out)
        print(f"results in {args.out}/results.csv, results.json")
    failed = any(isinstance(r, bench.Failure) for r in rows)
    return EXIT_INVALID if failed else EXIT_OK


def _cmd_plot(args: argparse.Namespace) -> int:
    from mlsched.plot import PlotUnavailable, plot_schedule

    out = Path(args.output)
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise InputError(
            f"output {args.output} must end in .png, .svg or .pdf"
        )
    if not out.resolve().parent.is_dir():
        raise InputError(f"output directory {out.parent} does not exist")
    problem = load_problem(args.problem)
    solution = load_solution(args.solution)
    labels = _op_labels(args, problem)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    try:
        ev = plot_schedule(
            problem,
            solution,
            tmp,
            rules=args.rules,
            name=args.problem,
            labels=labels,
        )
    except PlotUnavailable as exc:
        print(f"mlsched: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValueError as exc:
        print(f"mlsched: {exc}", file=sys.stderr)
        return EXIT_INVALID
    os.replace(tmp, out)
    print(
        f"{args.output}: {len(ev.subgraphs)} subgraphs, total latency "
        f"{ev.total_latency:,.1f}"
    )
    return EXIT_OK


def _cmd_gap(args: argparse.Namespace) -> int:
    from mlsched.gap import gap_report

    _check_search_args(args)
    problem = load_problem(args.problem)
    labels = _op_labels(args, problem)
    mine = None
    if args.schedule is not None:
        mine = evaluate(problem, load_solution(args.schedule), args.rules)
        if not mine.valid:
            print(
                f"mlsched: your schedule is invalid [{mine.category}] "
                f"({mine.rules}): {mine.message}",
                file=sys.stderr,
            )
            return EXIT_INVALID
    report = gap_report(
        problem,
        args.problem,
        rules=args.rules,
        time_limit=args.time_limit,
        num_workers=args.workers,
        seed=args.seed,
        mine=mine,
        mine_label=f"yours ({Path(args.schedule).name})" if mine else "",
    )
    if report.heuristic.solution is None:
        print(
            f"mlsched: no schedule: {report.heuristic.message}",
            file=sys.stderr,
        )
        return EXIT_INVALID
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.text())
        if mine is not None:
            print(_format_shares(report.shares(), labels))
    return EXIT_OK


def _format_shares(
    shares: Sequence[dict[str, Any]], labels: Sequence[str] | None
) -> str:
    """Where the time of the user's schedule goes, subgraph by subgraph."""
    head = (
        f"{'#':>4} {'ops':<28} {'bottleneck':<10} {'latency':>14} {'share':>7}"
    )
    lines = [
        "",
        f"where the time goes in your schedule ({len(shares)} subgraphs):",
        head,
        "-" * len(head),
    ]
    lines += [
        f"{s['index']:>4} {_fmt_ops(s['ops'], labels=labels):<28} "
        f"{s['bottleneck']:<10} {s['latency']:>14,.1f} {s['share']:>7.2%}"
        for s in shares
    ]
    return "\n".join(lines)


def _cmd_generate(args: argparse.Namespace) -> int:
    from mlsched.generator import generate

    dims = {
        name: getattr(args, name)
        for name in ("hidden", "seq", "heads", "kv_heads", "ffn", "experts")
        if getattr(args, name) is not None
    }
    if args.cache is not None:
        dims["cache"] = args.cache
    try:
        problem = generate(
            args.family,
            layers=args.layers,
            ops=args.ops,
            seed=args.seed,
            preset=args.preset,
            capacity=args.capacity,
            bandwidth=args.bandwidth,
            jitter=args.jitter,
            **dims,
        )
    except ValueError as exc:
        raise InputError(str(exc).splitlines()[0]) from None
    data = problem.model_dump(mode="json")
    if args.output is None:
        print(json.dumps(data))
    else:
        write_json_atomic(args.output, data)
        print(
            f"{args.output}: {args.family}, {problem.num_ops} ops, "
            f"{problem.num_tensors} tensors"
        )
    return EXIT_OK


def _add_generate(sub: _SubParsers) -> None:
    from mlsched.generator import DEFAULT_PRESET, FAMILIES, PRESETS

    ge = sub.add_parser(
        "generate",
        help="write a seeded, realistic ML graph in the contest format",
        description="Generate a graph of a model family (shapes consistent "
        "by construction, base costs proportional to work per native "
        "tile).",
    )
    ge.add_argument("family", choices=FAMILIES)
    ge.add_argument("-o", "--output", help="problem file (default: stdout)")
    ge.add_argument("--layers", type=int, default=1, help="stacked blocks")
    ge.add_argument(
        "--ops", type=int, metavar="N", help="layers for at least N ops"
    )
    for name, meaning in _MODEL_DIMS.items():
        ge.add_argument(f"--{name}", type=int, help=meaning)
    ge.add_argument("--cache", type=int, help="decode KV-cache length")
    ge.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default=DEFAULT_PRESET,
        help=f"capacity/bandwidth preset (default {DEFAULT_PRESET})",
    )
    ge.add_argument("--capacity", type=int, help="fast memory, elements")
    ge.add_argument("--bandwidth", type=float, help="elements per time unit")
    ge.add_argument(
        "--jitter", type=float, default=0.0, help="relative base-cost noise"
    )
    ge.add_argument("--seed", type=int, default=0, help="random seed")
    ge.set_defaults(func=_cmd_generate)


#: The generator's model dimensions, as ``mlsched generate`` flags.
_MODEL_DIMS = {
    "hidden": "hidden size (model width)",
    "seq": "sequence length",
    "heads": "attention (query) heads",
    "kv-heads": "key/value heads (GQA below --heads, MQA at 1)",
    "ffn": "MLP inner size",
    "experts": "MoE experts",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mlsched`` command."""
    parser = _Parser(
        prog="mlsched",
        description="Schedules for ML computational graphs (MLSys 2026).",
    )
    parser.add_argument(
        "--version", action="version", version=f"mlsched {mlsched.__version__}"
    )
    sub = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser
    )
    _add_evaluate_parser(sub)
    _add_solve_parser(sub)
    _add_benchmark_parser(sub)
    _add_plot_parser(sub)
    _add_gap_parser(sub)
    _add_generate(sub)
    _add_import_parser(sub)
    return parser


def _add_evaluate_parser(sub: _SubParsers) -> None:
    ev = sub.add_parser(
        "evaluate",
        help="check a schedule and print its exact latency",
        description="Check a schedule against the rules and print its "
        "per-subgraph latency. Exit 0 valid, 1 invalid, 2 bad input.",
    )
    _add_problem(ev)
    _add_solution(ev)
    _add_rules(ev)
    _add_json(ev, "print the verdict as JSON")
    _add_names(ev)
    ev.set_defaults(func=_cmd_evaluate)


def _add_solve_parser(sub: _SubParsers) -> None:
    so = sub.add_parser(
        "solve",
        help="find a schedule",
        description="Find a schedule and write it as contest JSON. Every "
        "improving schedule is written atomically; SIGINT or SIGTERM "
        "leaves the best one so far and exits 0.",
    )
    _add_problem(so)
    so.add_argument(
        "-o",
        "--output",
        help="where to write the schedule (default: stdout)",
    )
    _add_method(so)
    _add_rules(so)
    _add_time_limit(
        so, None, "wall-clock budget in seconds for cpsat (default 10)"
    )
    _add_search(so, "CP-SAT workers (default: number of cores)")
    _add_deterministic(so)
    so.add_argument(
        "--initial",
        metavar="FILE",
        help="a schedule to start from (valid under --rules); the result "
        "is never worse than it",
    )
    so.add_argument(
        "--log",
        action="store_true",
        help="show mlsched's progress messages and the CP-SAT search log",
    )
    _add_quiet(so)
    so.set_defaults(func=_cmd_solve)


def _add_benchmark_parser(sub: _SubParsers) -> None:
    be = sub.add_parser(
        "benchmark",
        help="run a method over instances and print a table",
        description="Run a method over bundled instances, problem files, "
        "directories (every *.json inside) and globs (default: the 24 "
        "contest benchmarks). Bundled benchmarks get their contest time "
        "limits, other instances --time-limit (default 10 s). A file "
        "that cannot be loaded or solved gets an error row. Exit 0 all "
        "solved, 1 some failed, 2 bad arguments.",
    )
    be.add_argument(
        "instances",
        nargs="*",
        help="bundled names, files, directories or globs (default: the 24 "
        "benchmarks)",
    )
    _add_method(be)
    _add_rules(be)
    be.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="multiply each contest time limit by F (default 1)",
    )
    _add_time_limit(be, None, "one time limit for every instance instead")
    be.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="parallel local solves",
    )
    be.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local processes (default) or Ray tasks (pip install "
        '"mlsched[ray]")',
    )
    be.add_argument(
        "--address",
        default=None,
        help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)",
    )
    _add_search(be, "CP-SAT workers per solve (default: cores / jobs)")
    _add_deterministic(be)
    be.add_argument(
        "--out",
        metavar="DIR",
        help="write results.csv, results.json and schedules to DIR",
    )
    _add_quiet(be)
    be.set_defaults(func=_cmd_benchmark)


def _add_plot_parser(sub: _SubParsers) -> None:
    pl = sub.add_parser(
        "plot",
        help="draw a schedule (needs matplotlib)",
        description="Draw a schedule: subgraph timeline coloured by "
        "bottleneck, fast-memory use against capacity, and the floors.",
    )
    _add_problem(pl)
    _add_solution(pl)
    pl.add_argument(
        "-o", "--output", required=True, help="image file (.png, .svg, .pdf)"
    )
    _add_rules(pl)
    _add_names(pl)
    pl.set_defaults(func=_cmd_plot)


def _add_gap_parser(sub: _SubParsers) -> None:
    ga = sub.add_parser(
        "gap",
        help="quality-gap report: naive, heuristic, CP-SAT, bound, floors",
        description="How far the list scheduler, or your schedule "
        "(--schedule), is from the best schedule found, the CP-SAT bound "
        "and the proven lower bound. Exit 0, 1 for an invalid schedule "
        "(with its category), 2 for bad input.",
    )
    _add_problem(ga)
    _add_rules(ga)
    _add_time_limit(ga, 10.0, "CP-SAT budget in seconds (default 10)")
    _add_search(ga, "CP-SAT workers (default: number of cores)")
    ga.add_argument(
        "--schedule",
        metavar="FILE",
        help="your schedule (contest JSON): report its latency, gaps and "
        "per-subgraph breakdown instead of the list scheduler's",
    )
    _add_json(ga, "print the report as JSON")
    _add_names(ga)
    ga.set_defaults(func=_cmd_gap)


def _add_import_parser(sub: _SubParsers) -> None:
    im = sub.add_parser(
        "import",
        help="import an ONNX model as a problem (needs mlsched[onnx])",
        description="Map an ONNX model to a contest problem: MatMul/Gemm "
        "to MatMuls (batched ones per batch slice), element-wise and "
        "row-wise ops to Pointwise, layout ops folded; costs from a "
        "device preset.",
    )
    import_command.add_arguments(im)
    im.set_defaults(func=import_command.run)


def _add_problem(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("problem", help="problem JSON path or bundled name")


def _add_solution(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("solution", help="solution JSON path")


def _add_json(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--json", action="store_true", help=help_text)


def _add_time_limit(
    parser: argparse.ArgumentParser, default: float | None, help_text: str
) -> None:
    parser.add_argument(
        "--time-limit",
        type=float,
        default=default,
        metavar="S",
        help=help_text,
    )


def _add_names(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--names",
        metavar="NAMES.json",
        help="label ops with the names sidecar of mlsched import",
    )


def _add_method(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--method",
        choices=("cpsat", "heuristic", "naive"),
        default="cpsat",
        help="cpsat (default): list scheduler refined by CP-SAT; "
        "heuristic: the list scheduler; naive: one op per subgraph",
    )


def _add_search(parser: argparse.ArgumentParser, workers_help: str) -> None:
    parser.add_argument(
        "--workers", type=int, default=None, metavar="N", help=workers_help
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")


def _add_deterministic(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="reproducible: budgets counted in work, not seconds (one "
        "CP-SAT worker), so the same seed and time limit give the same "
        "schedule whatever the load; the time limit still stops the run",
    )


def _add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress lines"
    )


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
    except OSError as exc:
        print(f"mlsched: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("mlsched: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
