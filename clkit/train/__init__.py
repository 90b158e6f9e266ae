"""The one training loop and what it writes.

- :mod:`~clkit.train.loop`: :func:`fit`, the loop every method, notebook and command uses;
- :mod:`~clkit.train.compiling`: how ``fit`` compiles the networks (torch.compile's modes, CUDA graphs);
- :mod:`~clkit.train.checkpoint`: checkpoints that resume a run and rebuild their model;
- :mod:`~clkit.train.optim`: the optimiser (AdamW, SGD or LARS; fused on a GPU) and the warm-up + cosine schedule;
- :mod:`~clkit.train.history`: :class:`History`, what a run measured;
- :mod:`~clkit.train.distributed`: rank, world size, the DDP wrapper, the gather of every process's embeddings and
  BatchNorm over the global batch;
- :mod:`~clkit.train.files`: atomic writes, the run folder checked before training, damaged files named;
- :mod:`~clkit.train.memory`: :class:`PeakMemory`, the peak memory a stretch of training added;
  :func:`reuse_freed_memory`, which keeps a CPU step's freed memory for the next step (no page faults);
- :mod:`~clkit.train.toy`: the margin lesson's 2-D toy: losses that report the push on every negative, a seconds-long trainer.
"""

from clkit.train.checkpoint import CHECKPOINT, HISTORY, Advice, read_checkpoint
from clkit.train.compiling import COMPILE_MODES
from clkit.train.files import DamagedFile, atomic_save, atomic_write_text, writable_folder
from clkit.train.history import History
from clkit.train.loop import fit, resolve_device, seed_everything
from clkit.train.optim import LARS, OPTIMIZERS, lr_sum
from clkit.train.memory import PeakMemory, reuse_freed_memory
from clkit.train.toy import (
    Push,
    ToyLoss,
    ToyRun,
    fit_toy,
    margin_loss,
    mine_triplets,
    nt_xent_loss,
    toy_mlp,
    triplet_loss,
    zero_temperature_limit,
)

__all__ = [
    "CHECKPOINT", "COMPILE_MODES", "HISTORY", "LARS", "Advice", "DamagedFile", "History", "OPTIMIZERS", "PeakMemory", "atomic_save", "atomic_write_text",
    "fit", "lr_sum", "read_checkpoint", "resolve_device", "reuse_freed_memory", "seed_everything", "writable_folder",
    "Push", "ToyLoss", "ToyRun", "fit_toy", "margin_loss", "mine_triplets", "nt_xent_loss", "toy_mlp", "triplet_loss",
    "zero_temperature_limit",
]
