"""Checkpoints that resume a run and rebuild their model.

A checkpoint holds the method's weights, the optimiser and schedule state, the history so
far and, when the method was built from a recipe, its ``spec``: the settings that rebuild
it, so :func:`clkit.load` returns a ready model from the file alone. Everything in it is
plain data and tensors, loaded with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from clkit.train.files import DamagedFile, atomic_save
from clkit.train.history import History

CHECKPOINT = "checkpoint.pt"
HISTORY = "history.json"

# Settings that must match for a run to continue from a checkpoint.
# The global batch, not the per-process one: a run resumes with another number of processes.
RESUME_KEYS = ("method", "dataset", "n_train", "epochs", "global_batch_size", "lr", "optimizer", "weight_decay", "seed",
               "spec")


class Advice(NamedTuple):
    """How the caller of :func:`~clkit.train.fit` resumes and restarts a run, in its own words.

    ``fit``'s messages (interrupted, finished, cannot resume) end with them. The defaults are the
    Python API's; the command line passes its own ("run the same command again", ``--restart``).
    ``resume`` may name the run folder as ``{out}``.
    """

    resume: str = "call fit again with out={out!r} to resume"
    restart: str = "pass resume=False"


def save_checkpoint(out: Path, method: nn.Module, opt, schedule, epoch: int, history: History) -> None:
    """Write ``out/checkpoint.pt`` (atomically: an interrupted save never leaves half a file) and ``out/history.json``."""
    state = {
        "epoch": epoch,
        "method": method.state_dict(),
        "spec": getattr(method, "spec", None),
        "optimizer": opt.state_dict(),
        "schedule": schedule.state_dict(),
        "history": history.to_dict(),
    }
    atomic_save(state, out / CHECKPOINT)
    history.save(out / HISTORY)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The contents of a checkpoint file, on the CPU, loaded with ``weights_only=True``.

    Raises:
        DamagedFile: (a ValueError) the file cannot be read as a checkpoint (cut short, overwritten), naming it.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise  # not damage: the path is wrong or not readable, and the error says so
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as error:
        reason = f"torch.load failed: {str(error).split('. ')[0]}" if str(error) else "the file is empty"
        raise DamagedFile(path, reason, "delete it, and train again to write a new one") from None
    if not isinstance(state, dict) or "method" not in state:
        raise DamagedFile(path, "it holds no model weights, so it is not a clkit checkpoint",
                          "delete it, and train again to write a new one")
    return state


def restore(out: Path, method: nn.Module, opt, schedule, config: dict, advice: Advice) -> tuple[int, History]:
    """Restore a run in place from ``out/checkpoint.pt``; returns the epoch to continue from and the history so far.

    ``out/history.json`` is rewritten from the checkpoint's history when it is missing or damaged (with a warning
    naming it), so a finished run never leaves a damaged file behind.

    Raises:
        DamagedFile: the checkpoint cannot be read; ValueError: it was written with other settings.
    """
    path = out / CHECKPOINT
    try:
        state = read_checkpoint(path)
    except DamagedFile as error:
        raise DamagedFile(path, error.reason, f"delete it, or {advice.restart} to start over in {out}") from None
    saved = dict(state["history"]["config"])
    saved.setdefault("global_batch_size", saved.get("batch_size", 0) * saved.get("world_size", 1))  # older files
    changed = {k: (saved.get(k), config[k]) for k in RESUME_KEYS if saved.get(k) != config[k]}
    if changed:
        detail = ", ".join(_describe_change(k, a, b) for k, (a, b) in changed.items())
        raise ValueError(
            f"{path} was written by a run with other settings ({detail}); "
            f"use a new out folder, or {advice.restart} to start over in this one"
        )
    method.load_state_dict(state["method"])
    opt.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    history = History.from_dict(state["history"])
    _repair_history_file(out / HISTORY, history)
    return state["epoch"] + 1, history


def _repair_history_file(path: Path, history: History) -> None:
    """Rewrite ``history.json`` from the checkpoint's own copy when it is missing or damaged."""
    try:
        History.load(path)
        return
    except FileNotFoundError:
        pass
    except DamagedFile as error:
        warnings.warn(f"{path} was damaged ({error.reason}); it is rewritten from {CHECKPOINT}", stacklevel=4)
    history.save(path)


def _describe_change(key: str, old: Any, new: Any) -> str:
    """One changed setting, as "key: old → new"; for a method's spec, only the recipe settings that differ."""
    if key == "spec" and isinstance(old, dict) and isinstance(new, dict):
        a, b = old.get("recipe", {}), new.get("recipe", {})
        changed = [f"{k}: {a.get(k)!r} → {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        return "recipe " + (", ".join(changed) or "other input shape or classes")
    return f"{key}: {old!r} → {new!r}"
