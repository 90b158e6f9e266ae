"""The one training loop and what it writes.

- :mod:`~clkit.train.loop`: :func:`fit`, the loop every method, notebook and command uses;
- :mod:`~clkit.train.checkpoint`: checkpoints that resume a run and rebuild their model;
- :mod:`~clkit.train.history`: :class:`History`, what a run measured;
- :mod:`~clkit.train.distributed`: rank, world size and the DDP wrapper;
- :mod:`~clkit.train.files`: atomic writes, the run folder checked before training, damaged files named.
"""

from clkit.train.checkpoint import CHECKPOINT, HISTORY, Advice, read_checkpoint
from clkit.train.files import DamagedFile, atomic_save, atomic_write_text, writable_folder
from clkit.train.history import History
from clkit.train.loop import OPTIMIZERS, fit, resolve_device, seed_everything

__all__ = [
    "CHECKPOINT", "HISTORY", "Advice", "DamagedFile", "History", "OPTIMIZERS", "atomic_save", "atomic_write_text",
    "fit", "read_checkpoint", "resolve_device", "seed_everything", "writable_folder",
]
