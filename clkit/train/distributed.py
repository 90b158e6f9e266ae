"""Several processes: who this process is, how it sees the others' embeddings, and the wrapper its step runs through.

The loop works the same on one process and on many (``torchrun``): every process draws the
same data order, takes its own slice of each global batch, draws its own augmentations (the
seed is offset by rank), and steps through DistributedDataParallel, which averages the
gradients. Only rank 0 shows a progress bar and writes checkpoints.

Two things make W processes with N images each train like one process with W·N:

- **Negatives from every process.** A contrastive loss contrasts each anchor against the
  whole global batch: :class:`ProcessGather` is the ``gather=`` hook of the losses, an
  all-gather whose backward hands each process the summed gradient of its own rows. The
  sum matters: every process's loss depends on every process's embeddings, so the gradient
  of a row is the sum over processes of what each loss sends it; DDP then averages the
  parameters' gradients, and the two together give the gradient of the global loss. A gather
  without a gradient would train each process on its own positives only; a backward without
  the sum would scale the other processes' part by 1/W.
- **Batch statistics from every process.** :func:`global_batchnorm` makes BatchNorm layers
  normalise with the statistics of the global batch (SimCLR's "global BN"), so that the
  network does not see W small batches: torch's ``SyncBatchNorm`` on a GPU, the kit's
  :class:`GlobalBatchNorm` elsewhere (``SyncBatchNorm`` runs on GPUs only).
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import Tensor, nn


def world_size() -> int:
    """Number of processes training together (1 without torch.distributed)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's index among them (0 without torch.distributed)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """Whether this process shows progress and writes files (rank 0)."""
    return rank() == 0


def launched_by_torchrun() -> bool:
    """Whether this process was started by ``torchrun`` (which sets ``LOCAL_RANK`` and ``WORLD_SIZE``)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_from_torchrun(device: torch.device) -> torch.device:
    """Join the process group ``torchrun`` set up, and return this process's device.

    On a CUDA ``device``, NCCL with one GPU per process (``cuda:LOCAL_RANK``); on the CPU, gloo. A process
    not started by torchrun is left alone and gets ``device`` back.
    """
    if not launched_by_torchrun() or dist.is_initialized():
        return device
    local = int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        if local >= torch.cuda.device_count():
            raise ValueError(f"process {local} on this machine has no GPU of its own: {torch.cuda.device_count()} "
                             "GPU(s) here; start at most that many processes per node (--nproc-per-node)")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


class _AllGather(torch.autograd.Function):
    """Forward: every process's rows in rank order. Backward: the sum over processes of the gradient of this
    process's rows (each process's loss reads every process's rows)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rank, ctx.rows = dist.get_rank(), len(x)
        return torch.cat(parts)  # (W·N, ...)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.contiguous()
        if dist.get_backend() == "nccl":  # the sum lands on each process's own slice only
            mine = grad.new_empty((ctx.rows, *grad.shape[1:]))
            dist.reduce_scatter_tensor(mine, grad)
            return mine
        total = grad.clone()
        dist.all_reduce(total)  # gloo has no reduce-scatter: sum everything, keep this process's rows
        return total[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


class ProcessGather:
    """The losses' ``gather=`` hook across processes (see :class:`clkit.losses.Gather`).

    ``gather(x)`` returns every process's rows of ``x`` in rank order, (W·N, …) for an (N, …) input,
    with the gradient flowing back to each process's own rows (summed over the processes' losses).

    Args:
        local: which logits each process computes. False (the default): the whole global batch's
            logits, (W·N) × (W·N), the same loss on every process; True: only its own anchors against
            every candidate, N × (W·N), W times less memory and compute for the logits. Both give the
            same parameter gradients once DDP has averaged them (tests/test_distributed.py checks it).
    """

    def __init__(self, local: bool = False):
        self.local = local
        self.rank = rank()

    def __call__(self, x: Tensor) -> Tensor:
        return _AllGather.apply(x) if world_size() > 1 else x

    def __repr__(self) -> str:
        return f"ProcessGather(local={self.local}, rank={self.rank})"


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics span every process: the mean and variance of the global batch.

    Each process sums its activations and their squares per channel; one all-reduce (with its gradient)
    makes the global sums, so the forward pass and the gradient are those of BatchNorm on the concatenated
    batch. On one process it is BatchNorm; in eval mode it uses the running statistics as BatchNorm does.
    Its parameters and buffers are BatchNorm's, so checkpoints load into either.
    """

    def _check_input_dim(self, x: Tensor) -> None:
        if x.ndim < 2:
            raise ValueError(f"GlobalBatchNorm expects (N, C, ...) input, got shape {tuple(x.shape)}")

    def forward(self, x: Tensor) -> Tensor:
        self._check_input_dim(x)
        batch_statistics = self.training or not self.track_running_stats
        if world_size() == 1 or not batch_statistics:  # one process, or the running statistics: BatchNorm itself
            return super().forward(x)
        dims = [0, *range(2, x.ndim)]  # every axis but the channels
        count = x.new_tensor([x.numel() / x.shape[1]], dtype=torch.float32)
        xf = x.float()
        sums = torch.cat([xf.sum(dims), (xf * xf).sum(dims), count])  # (2C + 1,)
        sums = _AllReduce.apply(sums)
        c = x.shape[1]
        total = sums[-1]
        mean = sums[:c] / total
        var = (sums[c : 2 * c] / total - mean * mean).clamp_min(0)  # the biased variance normalises, as BatchNorm
        if self.training and self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach() * total / (total - 1).clamp_min(1))
        shape = (1, c) + (1,) * (x.ndim - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, unbiased_var: Tensor) -> None:
        self.num_batches_tracked += 1
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
        self.running_var.lerp_(unbiased_var.to(self.running_var.dtype), factor)


class _AllReduce(torch.autograd.Function):
    """A sum over processes whose gradient is the sum over processes of the gradient (every loss reads the sum)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        total = x.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        total = grad.contiguous().clone()
        dist.all_reduce(total)
        return total


def global_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` with every BatchNorm layer normalising over the global batch (in place; returned for chaining).

    torch's ``SyncBatchNorm`` on a GPU; :class:`GlobalBatchNorm` elsewhere. Parameters and buffers are kept, so
    the weights and the checkpoint are the same as before.
    """
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _convert(module)


def _convert(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlobalBatchNorm):
        swapped = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                  module.track_running_stats, device=_device_of(module))
        swapped.load_state_dict(module.state_dict())
        swapped.train(module.training)
        if module.affine:  # keep the very same Parameter objects, so an optimiser built before still steps them
            swapped.weight, swapped.bias = module.weight, module.bias
        return swapped
    for name, child in module.named_children():
        module.add_module(name, _convert(child))
    return module


def _device_of(module: nn.Module) -> torch.device | None:
    tensors = list(module.parameters()) + list(module.buffers())
    return tensors[0].device if tensors else None


def spawn(function: Callable[..., Any], world: int, *args: Any, threads: int | None = None) -> list[Any]:
    """Run ``function(*args)`` in ``world`` CPU processes joined by gloo, as torchrun would; each one's result.

    For notebooks and benchmarks on one machine (a script uses ``torchrun`` or ``clkit train --devices``).
    ``function`` must be importable (defined in a module, not in a notebook cell). Each process uses
    ``threads`` torch threads (default: the CPU cores shared out). Results travel through files, so they
    must be what ``torch.save`` writes and ``torch.load(weights_only=True)`` reads (tensors, numbers, lists,
    dicts, strings).
    """
    if world < 1:
        raise ValueError(f"world is the number of processes, at least 1; got {world}")
    threads = threads or max(1, (os.cpu_count() or 1) // world)
    with tempfile.TemporaryDirectory(prefix="clkit-spawn-") as folder:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        mp.spawn(_spawned, args=(world, port, threads, folder, function, args), nprocs=world, join=True)
        return [torch.load(Path(folder) / f"rank{r}.pt", weights_only=True) for r in range(world)]


def _spawned(rank: int, world: int, port: int, threads: int, folder: str, function: Callable[..., Any],
             args: tuple) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(threads)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.save(function(*args), Path(folder) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def wrap(method: nn.Module, device: torch.device) -> nn.Module:
    """The module the step calls: the method itself on one process, DistributedDataParallel around it on several."""
    if world_size() == 1:
        return method
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(method, device_ids=ids)


__all__ = ["GlobalBatchNorm", "ProcessGather", "global_batchnorm", "init_from_torchrun", "is_main",
           "launched_by_torchrun", "rank", "spawn", "world_size", "wrap"]
