"""clkit: the contrastive learning kit.

One module per stage of the data flow::

    data ─► augment ─► models ─► losses ─► methods ─► evaluate ─► train ─► recipes ─► sweep ─► cli
                                                             (viz / widgets on top)

``import clkit`` needs only torch and torchvision. The plotting and widget modules
(``clkit.viz``, ``clkit.widgets``) import matplotlib, plotly and ipywidgets when they
are themselves imported, so a training run on a bare GPU machine never touches them.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("augment", "cli", "data", "evaluate", "exercises", "losses", "methods", "models", "recipes", "scale", "sweep", "train",
               "viz", "widgets")


def load(path):
    """The trained method stored in a checkpoint file or run folder, rebuilt and in eval mode (:func:`clkit.recipes.load`)."""
    from clkit.recipes import load as load_checkpoint

    return load_checkpoint(path)


def __getattr__(name: str):
    # Submodules load on first use: `clkit.viz` pulls in matplotlib only when asked for.
    if name in _SUBMODULES:
        return importlib.import_module(f"clkit.{name}")
    raise AttributeError(f"module 'clkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES])
