"""MoCo's queue of negatives: the keys of recent batches, reused as negatives.

The number of negatives then no longer depends on the batch size: a batch of 256 can be
contrasted against 65,536 keys (He et al. 2020). The queue is a ring buffer on the training
device; pushing a batch overwrites the oldest keys without a host synchronisation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class NegativeQueue(nn.Module):
    """A ring buffer of ``size`` ℓ2-normalised keys of width ``dim``, saved with the model's state.

    It starts filled with random unit vectors (as MoCo does), so it can be used from the first step.

    Attributes:
        keys: (size, dim) float32 buffer, the negatives.
        pointer: 0-d int64 buffer, where the next batch is written.
    """

    def __init__(self, size: int, dim: int):
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"a queue needs size >= 1 and dim >= 1, got size={size}, dim={dim}")
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.int64))

    def __len__(self) -> int:
        return self.keys.shape[0]

    @torch.no_grad()
    def push(self, keys: Tensor) -> None:
        """Write a batch of keys (N, dim) over the oldest ones (N ≤ size), ℓ2-normalised, detached."""
        if keys.ndim != 2 or keys.shape[1] != self.keys.shape[1]:
            raise ValueError(f"keys must be (N, {self.keys.shape[1]}), got {tuple(keys.shape)}")
        n = keys.shape[0]
        if n > len(self):
            raise ValueError(f"cannot push {n} keys into a queue of {len(self)}; make the queue at least one batch long")
        slots = (self.pointer + torch.arange(n, device=self.keys.device)) % len(self)  # (N,), stays on the device
        self.keys[slots] = F.normalize(keys.detach().float(), dim=1)
        self.pointer.copy_((self.pointer + n) % len(self))
