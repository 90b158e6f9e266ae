"""How :func:`~clkit.train.fit` compiles a method's networks (``torch.compile``), and how it runs them eager.

``fit(compile=...)`` takes ``None`` (compiled on a GPU, eager on a CPU), ``False``, ``True`` (torch.compile's
default mode) or one of :data:`COMPILE_MODES` by name. ``"reduce-overhead"`` adds CUDA graphs on a GPU: each
compiled network's forward and backward are recorded once and replayed as one launch, so the host's kernel
launches drop out of the step (``bench/gpu_breakdown.py --variants cudagraphs`` measures what that buys).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

__all__ = ["COMPILE_MODES", "compile_mode", "compile_networks", "eager", "uses_cuda_graphs"]

#: torch.compile's modes, by the names it takes.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compile_mode(compile: bool | str | None, device: torch.device) -> str | None:
    """The torch.compile mode of ``fit(compile=...)`` on ``device``, or None for eager networks."""
    if compile is None:
        compile = device.type == "cuda"
    if compile is False:
        return None
    if compile is True:
        return "default"
    if compile not in COMPILE_MODES:
        raise ValueError(f"compile must be True, False, None (compiled on a GPU only) or one of torch.compile's "
                         f"modes {', '.join(COMPILE_MODES)}; got {compile!r}")
    return compile


def uses_cuda_graphs(mode: str | None, device: torch.device) -> bool:
    """Whether networks compiled in ``mode`` on ``device`` run as CUDA graphs."""
    return device.type == "cuda" and mode in ("reduce-overhead", "max-autotune")


def compile_networks(method: nn.Module, **options) -> None:
    """Compile, in place, each network the method holds (its direct submodules with parameters: backbone, heads,
    predictor, momentum copies). In place (``Module.compile``), so parameter names and checkpoints are unchanged;
    the method's own forward (augmentation, loss) stays eager, so a graph break there costs nothing. ``options``
    go to ``torch.compile`` (``mode=...``)."""
    for child in method.children():
        if any(True for _ in child.parameters()):
            child.compile(**options)


def eager() -> contextlib.AbstractContextManager:
    """Compiled code runs eager inside this block (``torch.compiler.set_stance``, torch >= 2.6; earlier, as is)."""
    set_stance = getattr(torch.compiler, "set_stance", None)
    return set_stance("force_eager") if set_stance is not None else contextlib.nullcontext()
