"""Several processes: who this process is, and the wrapper its step runs through.

The loop works the same on one process and on many (``torchrun``): every process draws the
same data order, takes its own slice of each global batch, draws its own augmentations (the
seed is offset by rank), and steps through DistributedDataParallel, which averages the
gradients. Only rank 0 shows a progress bar and writes checkpoints.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


def world_size() -> int:
    """Number of processes training together (1 without torch.distributed)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's index among them (0 without torch.distributed)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """Whether this process shows progress and writes files (rank 0)."""
    return rank() == 0


def wrap(method: nn.Module, device: torch.device) -> nn.Module:
    """The module the step calls: the method itself on one process, DistributedDataParallel around it on several."""
    if world_size() == 1:
        return method
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(method, device_ids=ids)
