"""What every figure shares: PNG display in IPython, colour palettes and image/array conversion."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from torch import Tensor

from clkit.data import to_float


def _display_figures_as_png() -> None:
    """In IPython, show a returned ``Figure`` as a PNG.

    pyplot registers that formatter when it is imported; these figures are made without
    pyplot, so we register it ourselves (a no-op outside IPython).
    """
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import print_figure
    except ImportError:  # pragma: no cover - IPython ships with the lab extras
        return
    shell = get_ipython()
    if shell is not None:
        png = shell.display_formatter.formatters["image/png"]
        png.for_type(Figure, lambda fig: print_figure(fig, "png", bbox_inches="tight"))


def to_numpy_image(image: Tensor) -> np.ndarray:
    """(C, H, W) uint8 or float in [0, 1] → (H, W, 3) or (H, W) float array for ``imshow``."""
    x = to_float(image.detach().cpu()).clamp(0, 1)
    if x.shape[0] == 1:
        return x[0].numpy()
    return x.permute(1, 2, 0).numpy()


def class_colours(n: int) -> list[str]:
    """n distinct hex colours, one per class (matplotlib's tab10, or tab20 beyond 10 classes)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [to_hex(cmap(i % cmap.N)) for i in range(n)]


def _value_colors(values: Sequence[float]) -> list:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(i / max(1, len(values) - 1) * 0.9) for i in range(len(values))]


def _as_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
