"""Files a run writes: atomic writes, a folder checked before training, and damaged files named."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


class DamagedFile(ValueError):
    """A file a run wrote that can no longer be read (cut short, overwritten): the message names it, says why and
    what to do. ``path`` and ``reason`` are kept, so a caller can give other advice for the same damage."""

    def __init__(self, path: str | Path, reason: str, advice: str = "delete it, and run again to write a new one"):
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path} is damaged ({reason}); {advice}")


def writable_folder(path: str | Path) -> Path:
    """Create the folder ``path`` if it is missing and check that files can be written in it, before any training.

    Raises:
        ValueError: ``path`` names a file, or the folder cannot be created or written (read-only file system,
            no permission).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} is a file, not a folder: give the folder for the run's files "
                         "(checkpoint.pt, history.json), a new path or an existing folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise ValueError(f"cannot write in {path} ({error.strerror or error}): give a folder you can write to")
    return path


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename: readers see the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through a temporary file and an atomic rename, as :func:`atomic_write_text`."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
