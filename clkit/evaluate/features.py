"""Frozen features: what a model maps a record to, in one place for every evaluation.

:func:`features` decides "which features" once for the whole kit: ``space="h"`` is the
backbone's output (what we evaluate after training), ``space="z"`` the projection the loss
saw. A method answers through its ``embed`` and ``project``; a bare encoder (any module
taking float images) gives ``h`` and has no ``z``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from clkit.data import to_float

SPACES = ("h", "z")


def _inputs(model: nn.Module, data: Any) -> Tensor:
    """The tensor a model reads from ``data``: a tensor as is, else the record field the model names (images by default)."""
    if isinstance(data, Tensor):
        return data
    input_of = getattr(model, "input_of", None)
    return input_of(data) if input_of is not None else data.images


def _forward(model: nn.Module, space: str):
    if space not in SPACES:
        raise ValueError(f"space must be 'z' (after the head) or 'h' (the backbone), got {space!r}")
    if space == "z":
        if not hasattr(model, "project"):
            raise TypeError(f"{type(model).__name__} has no projection head (no .project); use embed() for h")
        return model.project
    if hasattr(model, "embed"):
        return model.embed
    return lambda x: model(to_float(x))


def model_device(model: nn.Module) -> torch.device:
    """Where a model's parameters are (the CPU for a model without any)."""
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


@torch.no_grad()
def features(
    model: nn.Module,
    data: Any,
    space: str = "h",
    batch_size: int = 512,
    device: str | torch.device | None = None,
    progress: bool = False,
    on_device: bool = False,
) -> Tensor:
    """Features of every item of ``data`` from a frozen model, batched, under ``torch.no_grad``.

    The model runs in eval mode on ``device`` (default: where its parameters are) and is put
    back in the mode it was in.

    Args:
        model: a method (``embed`` gives h, ``project`` gives z) or an encoder (h only).
        data: a record (an ImageSet, a TextSet, ...) or the input tensor itself, e.g. images
            (N, C, H, W) uint8 or float in [0, 1].
        space: ``"h"`` (backbone features) or ``"z"`` (after the projection head).
        on_device: keep the features where the model ran (a monitor that goes on to a kNN there), rather than
            copy each batch's back to the CPU.
    Returns:
        (N, D) float32 features on the CPU, or on ``device`` with ``on_device``.
    """
    forward = _forward(model, space)
    inputs = _inputs(model, data)
    device = model_device(model) if device is None else device
    was_training = model.training
    model.eval()
    chunks = []
    starts = range(0, len(inputs), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="features", unit="batch", leave=False)
    try:
        for start in starts:
            chunk = forward(inputs[start : start + batch_size].to(device, non_blocking=True)).float()
            chunks.append(chunk if on_device else chunk.cpu())
    finally:
        model.train(was_training)
    return torch.cat(chunks) if chunks else torch.empty(0)


def shared_features(model: nn.Module, data: Any, space: str = "h", batch_size: int = 512) -> Tensor:
    """:func:`features` on the model's device, the work shared by the processes of a distributed run.

    Each of the W processes embeds every W-th item (process r the items r, r + W, ...) and every process receives
    all N features, in the order of ``data``: a monitor's pass over a dataset takes 1/W of the time. A collective
    call, which every process must make (as :func:`clkit.train.fit` does for its monitor); in one process it is
    ``features(model, data, space, batch_size, on_device=True)``.
    """
    inputs = _inputs(model, data)
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    if world == 1 or len(inputs) < world:  # a process without an item would have no width to send
        return features(model, inputs, space, batch_size, on_device=True)
    part = features(model, inputs[dist.get_rank() :: world], space, batch_size, on_device=True)
    rows = -(-len(inputs) // world)  # the longest share; shorter ones are padded to it
    padded = part.new_zeros(rows, part.shape[1])
    padded[: len(part)] = part
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    # Row j of process r's share is item j·W + r: interleave the shares; the padding lands past the end.
    return torch.stack(parts, dim=1).flatten(0, 1)[: len(inputs)]


def embed(model: nn.Module, images: Any, batch_size: int = 512, device: str | torch.device | None = None,
          progress: bool = False) -> Tensor:
    """Backbone features h of ``images`` (or a record): ``features(model, images, "h", ...)``."""
    return features(model, images, "h", batch_size, device, progress)


def project(method: nn.Module, images: Any, batch_size: int = 512, device: str | torch.device | None = None,
            progress: bool = False) -> Tensor:
    """Embeddings z = g(f(x)) after the projection head: ``features(method, images, "z", ...)``."""
    return features(method, images, "z", batch_size, device, progress)


def raw_pixels(images: Tensor) -> Tensor:
    """The no-learning baseline: each image's pixels as one flat vector, (N, C, H, W) → (N, C·H·W) float in [0, 1]."""
    return to_float(images).flatten(1)


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, images: Tensor, batch_size: int = 256) -> nn.Module:
    """Estimate every BatchNorm layer's running statistics from ``images``, without training; in place.

    An untrained network in eval mode normalises with BatchNorm's initial statistics (mean 0,
    variance 1), which fit no real activations: its outputs shrink to almost the same vector for
    every image, through the head's bias. For a fair random-init baseline we first let the layers
    see the data: forward passes in train mode, no gradients, running statistics averaged over
    all batches (momentum None). Weights are untouched; the model's mode and momenta are restored.

    Args:
        model: a method (the pass goes through ``project`` when it has one, else ``embed``) or a module.
        images: (N, C, H, W) uint8 or float in [0, 1].
    Returns:
        the model.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
    forward = _forward(model, "z" if hasattr(model, "project") else "h")
    device = model_device(model)
    was_training = model.training
    model.train()
    try:
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            if len(chunk) > 1:  # BatchNorm cannot take statistics of a single sample
                forward(chunk.to(device))
    finally:
        model.train(was_training)
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
    return model
