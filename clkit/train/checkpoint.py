"""Checkpoints that resume a run and rebuild their model.

A checkpoint holds the method's weights, the optimiser and schedule state, the history so
far and, when the method was built from a recipe, its ``spec``: the settings that rebuild
it, so :func:`clkit.load` returns a ready model from the file alone. Everything in it is
plain data and tensors, loaded with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from clkit.train.files import atomic_save
from clkit.train.history import History

CHECKPOINT = "checkpoint.pt"
HISTORY = "history.json"

# Settings that must match for a run to continue from a checkpoint.
RESUME_KEYS = ("method", "dataset", "n_train", "epochs", "batch_size", "lr", "optimizer", "weight_decay", "seed", "spec")


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
    """The contents of a checkpoint file, on the CPU, loaded with ``weights_only=True``."""
    return torch.load(path, map_location="cpu", weights_only=True)


def load_checkpoint(path: Path, method: nn.Module, opt, schedule, config: dict) -> tuple[int, History]:
    """Restore a run in place from ``path``; returns the epoch to continue from and the history so far."""
    state = read_checkpoint(path)
    saved = state["history"]["config"]
    changed = {k: (saved.get(k), config[k]) for k in RESUME_KEYS if saved.get(k) != config[k]}
    if changed:
        detail = ", ".join(_describe_change(k, a, b) for k, (a, b) in changed.items())
        raise ValueError(
            f"{path} was written by a run with other settings ({detail}); "
            "use a new out folder, or resume=False to start over in this one"
        )
    method.load_state_dict(state["method"])
    opt.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    return state["epoch"] + 1, History.from_dict(state["history"])


def _describe_change(key: str, old: Any, new: Any) -> str:
    """One changed setting, as "key: old → new"; for a method's spec, only the recipe settings that differ."""
    if key == "spec" and isinstance(old, dict) and isinstance(new, dict):
        a, b = old.get("recipe", {}), new.get("recipe", {})
        changed = [f"{k}: {a.get(k)!r} → {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        return "recipe " + (", ".join(changed) or "other input shape or classes")
    return f"{key}: {old!r} → {new!r}"
