"""The one switch that scales every notebook and command.

``CLKIT_SCALE`` picks one of three settings, and every notebook reads its sizes
through :func:`pick`, so the three settings run the same code path:

============  =====================================================================
``ci``        the smallest run that still exercises every cell (CI, nbval)
``laptop``    the default on a CPU: each notebook finishes in a few minutes
``full``      the default when a CUDA GPU is present: the full-scale setting
============  =====================================================================

>>> import os; os.environ["CLKIT_SCALE"] = "ci"
>>> pick(ci=1, laptop=20, full=200)
1
"""

from __future__ import annotations

import os
from typing import TypeVar

SCALES = ("ci", "laptop", "full")
ENV_VAR = "CLKIT_SCALE"

T = TypeVar("T")


def current() -> str:
    """The active scale: ``$CLKIT_SCALE`` if set, else ``full`` with a CUDA GPU and ``laptop`` without."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if not value:
        import torch

        return "full" if torch.cuda.is_available() else "laptop"
    if value not in SCALES:
        raise ValueError(f"{ENV_VAR}={value!r} is not a scale; valid scales are {', '.join(SCALES)}")
    return value


def pick(ci: T, laptop: T, full: T) -> T:
    """Return the value for the active scale, e.g. ``epochs = pick(ci=1, laptop=20, full=200)``."""
    return {"ci": ci, "laptop": laptop, "full": full}[current()]
