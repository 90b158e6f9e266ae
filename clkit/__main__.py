"""``python -m clkit …``: the command line, as the ``clkit`` script (torchrun starts processes this way)."""

import sys

from clkit.cli import main

sys.exit(main())
