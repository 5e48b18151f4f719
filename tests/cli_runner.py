"""Running the ``mlsched`` command line from the tests.

:func:`run_cli` starts ``python -m mlsched`` in a subprocess: the real
exit path, for ``solve`` with a time limit or a signal (which leave
through ``os._exit``) and a few end-to-end checks. :func:`run_main`
runs the same command through :func:`mlsched.cli.main` in this
process, with the same result type, for the many cases that only check
an exit code and its output: it saves an interpreter start and the
imports per case.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from mlsched import cli


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m mlsched ARGS`` in ``cwd``, capturing text output."""
    return subprocess.run(
        [sys.executable, "-m", "mlsched", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_main(
    *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``mlsched.cli.main(ARGS)`` in ``cwd``, in this process.

    stdout and stderr are captured as :func:`run_cli` captures them,
    including log records of level WARNING and above, which a fresh
    interpreter (no logging configured) prints bare to stderr. An
    exception that escapes ``main`` propagates: in a subprocess it
    would be a traceback. ``solve`` with ``--time-limit`` is refused:
    at the limit it leaves through ``os._exit`` (use :func:`run_cli`);
    the signal handlers ``solve`` installs are restored afterwards.
    """
    assert args[:1] != ("solve",) or "--time-limit" not in args, (
        "run `solve --time-limit` with run_cli"
    )
    handlers = {
        s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)
    }
    out, err = io.StringIO(), io.StringIO()
    # Python's last-resort handler: bare message, WARNING and above.
    handler = logging.StreamHandler(err)
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    previous = os.getcwd()
    root.addHandler(handler)
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as exc:  # argparse errors, --help, --version
                code = _exit_code(exc)
    finally:
        os.chdir(previous)
        root.removeHandler(handler)
        for signum, action in handlers.items():
            signal.signal(signum, action)
    return subprocess.CompletedProcess(
        [sys.executable, "-m", "mlsched", *args],
        code,
        out.getvalue(),
        err.getvalue(),
    )


def _exit_code(exc: SystemExit) -> int:
    """The process exit status ``sys.exit(exc.code)`` would give."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    # sys.exit("text") prints the text to stderr and exits 1.
    print(exc.code, file=sys.stderr)
    return 1
