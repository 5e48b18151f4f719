"""Run code with another checkout's package.

The bound scripts and the suite timer compare this tree with another
one (``git worktree add --detach``): each side runs in a subprocess
whose ``PYTHONPATH`` is that tree (:func:`env_for`); :func:`call_in`
imports the calling script from this tree's benchmarks/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent


def env_for(tree: Path) -> dict[str, str]:
    """The environment of a subprocess that imports ``tree``'s package."""
    return dict(os.environ, PYTHONPATH=str(tree))


def call_in(tree: Path, module: str, function: str, *args: object) -> Any:
    """``module.function(*args)`` in a subprocess that imports ``tree``'s
    package; its result. Arguments and result pass as JSON."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); "
        f"from {module} import {function} as f; "
        "print(json.dumps(f(*json.loads(sys.argv[2]))))"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(HERE / "benchmarks"),
            json.dumps(args),
        ],
        env=env_for(tree),
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)
