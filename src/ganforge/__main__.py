"""``python -m ganforge`` is the ``ganforge`` command."""

import sys

from ganforge.cli import main

sys.exit(main())
