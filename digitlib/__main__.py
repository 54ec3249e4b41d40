"""``python -m digitlib``: the command line, as the ``digitlib`` script runs it."""

import sys

from .run.cli import main

sys.exit(main())
