"""Run a method over the bundled benchmarks and print the results table.

Thin wrapper over ``mlsched benchmark``; see ``benchmarks/README.md``.
"""

import sys

from mlsched.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", *sys.argv[1:]]))
