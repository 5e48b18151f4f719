"""``python -m mlsched``."""

import sys

from mlsched.cli import main

sys.exit(main())
