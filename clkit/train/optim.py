"""The optimiser and its learning-rate schedule, as :func:`clkit.train.fit` builds them.

- :func:`make_optimizer`: AdamW or SGD (momentum 0.9, Nesterov), biases, norm layers and a learned logit scale not
  decayed, a method's own learning-rate multiples (``method.lr_scales``), fused on a GPU;
- :func:`lr_factor`: linear warm-up, then cosine decay to 0, as a multiple of the peak learning rate.
"""

from __future__ import annotations

import math

import torch
from torch import nn

OPTIMIZERS = ("adamw", "sgd")


def make_optimizer(method: nn.Module, name: str, lr: float, weight_decay: float,
                   fused: bool = False) -> torch.optim.Optimizer:
    """The optimiser ``name`` (one of :data:`OPTIMIZERS`) over the method's trainable parameters."""
    # Biases, norm layers and a learned logit scale are not decayed. A method may give some parameters their
    # own learning rate, as a multiple of ``lr``, in ``method.lr_scales`` (name -> factor): CLIP-style learned τ.
    scales = getattr(method, "lr_scales", {})
    named = [(n, p) for n, p in method.named_parameters() if p.requires_grad]
    unknown = sorted(set(scales) - {n for n, _ in named})
    if unknown:
        raise ValueError(f"lr_scales names {', '.join(unknown)}, which are not trainable parameters of the method")
    decay = [p for n, p in named if n not in scales and p.ndim > 1]
    no_decay = [p for n, p in named if n not in scales and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups += [{"params": [p], "weight_decay": 0.0, "lr": lr * scales[n]} for n, p in named if n in scales]
    fused = fused or None  # one kernel for every parameter's update (GPU); None lets torch choose elsewhere
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True, fused=fused)
    return torch.optim.AdamW(groups, lr=lr, fused=fused)


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """The learning rate of ``step`` as a fraction of the peak: a linear warm-up, then a cosine to 0."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
