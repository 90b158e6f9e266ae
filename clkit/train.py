"""The one training loop every method, notebook and command uses.

:func:`fit` takes a method (anything with ``loss(batch)`` and ``embed(images)``, see
:mod:`clkit.methods`) and an :class:`~clkit.data.ImageSet`, and:

- keeps the uint8 images on the training device and shuffles indices there, so
  augmentation runs where the model runs;
- seeds everything from one ``seed``: the order of the data and every augmentation in
  epoch e depend only on (seed, e), which is also what makes a resumed run identical;
- uses bf16 autocast on a GPU, float32 on a CPU;
- shows a progress bar (a widget in Jupyter, text in a terminal);
- measures kNN accuracy on frozen features each ``monitor_every`` epochs;
- writes a checkpoint and ``history.json`` into ``out`` after every epoch, resumes from
  them, and keeps them intact if a run is interrupted or its loss turns NaN/Inf.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from clkit.data import ImageSet
from clkit.evaluate import embed, knn_accuracy
from clkit.methods import Batch

CHECKPOINT = "checkpoint.pt"
HISTORY = "history.json"
OPTIMIZERS = ("adamw", "sgd")


@dataclass
class History:
    """What a run measured, as plain data.

    ``epochs`` holds one record per epoch (``epoch``, ``loss``, ``knn``, ``lr``, ``seconds``,
    ``images_per_s`` and the method's own logs such as ``contrastive_acc``); ``steps``
    the loss of every step. ``epoch 0`` is the untrained model's kNN accuracy.
    """

    epochs: list[dict[str, float]] = field(default_factory=list)
    steps: list[float] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False

    def __getitem__(self, key: str) -> list[float]:
        """One column over epochs, e.g. ``history["knn"]`` (epochs without that entry are skipped)."""
        return [record[key] for record in self.epochs if key in record]

    def last(self, key: str) -> float | None:
        """The latest value of a column, or None if it was never recorded."""
        column = self[key]
        return column[-1] if column else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(**d)

    def save(self, path: str | Path) -> None:
        _atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> History:
        return cls.from_dict(json.loads(Path(path).read_text()))


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → the CUDA GPU if there is one, else the CPU; anything else is checked and passed through."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but no CUDA GPU is available; use device='auto' or 'cpu'")
    return device


def seed_everything(seed: int) -> None:
    """Seed torch's CPU and CUDA generators (call before building a model to fix its initial weights)."""
    torch.manual_seed(seed)


def fit(
    method: nn.Module,
    data: ImageSet,
    *,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 1e-3,
    optimizer: str = "adamw",
    weight_decay: float = 1e-4,
    warmup_epochs: float = 1.0,
    device: str | torch.device = "auto",
    seed: int = 0,
    amp: bool | None = None,
    monitor: tuple[ImageSet, ImageSet] | None = None,
    monitor_every: int = 1,
    knn_k: int = 20,
    measures: Sequence[Callable[[nn.Module], dict[str, float]]] = (),
    out: str | Path | None = None,
    resume: bool = True,
    progress: bool = True,
    callbacks: Sequence[Callable[[dict[str, float]], None]] = (),
) -> History:
    """Train ``method`` on ``data`` and return its :class:`History`.

    Args:
        method: a :class:`clkit.methods.Method` (``loss(batch)``, ``embed(images)``).
        data: the training images (labels are passed along; self-supervised methods ignore them).
        epochs: passes over ``data``; the last partial batch of each epoch is dropped.
        batch_size: images per step (each gives the method two views for contrastive methods).
        lr: peak learning rate, reached after ``warmup_epochs`` of linear warm-up, then cosine decay to 0.
        optimizer: ``"adamw"`` or ``"sgd"`` (momentum 0.9, Nesterov).
        weight_decay: decoupled for AdamW, L2 for SGD.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or a torch.device.
        seed: fixes data order and augmentations (the model's initial weights are fixed by
            seeding before it is built, see :func:`seed_everything`).
        amp: bf16 autocast; default on for CUDA, off for the CPU.
        monitor: ``(bank, queries)`` ImageSets for the kNN monitor on frozen features.
        monitor_every: epochs between kNN measurements (the last epoch is always measured).
        knn_k: neighbours for the monitor.
        measures: functions of the method returning ``{name: value}``, run with the monitor (at
            epoch 0 and every ``monitor_every`` epochs) and merged into that epoch's record, e.g.
            alignment and uniformity on a fixed batch. They run in eval mode under no_grad.
        out: a folder for ``checkpoint.pt`` and ``history.json``, written after every epoch.
        resume: continue from ``out/checkpoint.pt`` when it exists (same settings required).
        progress: show a progress bar.
        callbacks: functions called with each epoch's record, e.g. a live plot.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if not 1 <= batch_size <= len(data):
        raise ValueError(f"batch_size must be between 1 and the dataset size {len(data)}, got {batch_size}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; valid optimizers are {', '.join(OPTIMIZERS)}")
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    device = resolve_device(device)
    amp = device.type == "cuda" if amp is None else amp
    steps_per_epoch = len(data) // batch_size
    total_steps = epochs * steps_per_epoch
    config = {
        "method": type(method).__name__,
        "dataset": data.name,
        "n_train": len(data),
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "optimizer": optimizer,
        "weight_decay": weight_decay,
        "warmup_epochs": warmup_epochs,
        "seed": seed,
        "amp": amp,
        "device": str(device),
        "torch": str(torch.__version__),
    }

    method.to(device)
    opt = _make_optimizer(method, optimizer, lr, weight_decay)
    warmup_steps = max(1, round(warmup_epochs * steps_per_epoch)) if warmup_epochs > 0 else 0
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: _lr_factor(step, warmup_steps, total_steps))

    history = History(config=config)
    start_epoch = 1
    out = Path(out) if out is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if resume and (out / CHECKPOINT).exists():
            start_epoch, history = _load_checkpoint(out / CHECKPOINT, method, opt, schedule, config)

    images = data.images.to(device)
    labels = data.labels.to(device)
    watching = monitor is not None or bool(measures)
    if watching and not history.epochs:
        history.epochs.append({"epoch": 0, **_measure(method, monitor, knn_k, measures, device)})

    bar = None
    if progress and start_epoch <= epochs:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=(start_epoch - 1) * steps_per_epoch, unit="step", desc="train")
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, epochs + 1):
            record = _train_epoch(method, images, labels, opt, schedule, batch_size, seed, epoch, amp, device,
                                  history, bar, epoch_steps=steps_per_epoch, total_steps=total_steps)
            if watching and (epoch % monitor_every == 0 or epoch == epochs):
                record.update(_measure(method, monitor, knn_k, measures, device))
            history.epochs.append(record)
            if bar is not None:
                bar.set_postfix({k: f"{v:.3f}" for k, v in record.items() if k in ("loss", "knn")})
            if out is not None:
                _save_checkpoint(out, method, opt, schedule, epoch, history)
            for callback in callbacks:
                callback(record)
    except KeyboardInterrupt:
        history.interrupted = True
        saved = f"the checkpoint of epoch {epoch - 1} is in {out}; call fit again with out={str(out)!r} to resume"
        print(f"Interrupted during epoch {epoch}: "
              + (saved if out is not None and epoch > 1 else "no checkpoint was written (pass out=... to keep one)"))
    finally:
        if bar is not None:
            bar.close()
    return history


def _make_optimizer(method: nn.Module, name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    # Biases, norm layers and a learned logit scale are not decayed.
    decay = [p for p in method.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in method.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=lr)


def _lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


def _train_epoch(method, images, labels, opt, schedule, batch_size, seed, epoch, amp, device, history, bar,
                 epoch_steps, total_steps) -> dict[str, float]:
    # Everything random in this epoch — order and augmentation — follows from (seed, epoch).
    torch.manual_seed(_epoch_seed(seed, epoch))
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(_epoch_seed(seed, epoch)))
    order = order.to(device)
    method.train()
    if bar is not None:
        bar.set_description(f"epoch {epoch}")
    sums: dict[str, float] = {}
    started = time.perf_counter()
    for i in range(epoch_steps):
        idx = order[i * batch_size : (i + 1) * batch_size]
        batch = Batch(images[idx], labels[idx])
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss, logs = method.loss(batch)
        value = loss.item()
        if not math.isfinite(value):
            step = (epoch - 1) * epoch_steps + i + 1
            raise FloatingPointError(
                f"the loss became {value} at epoch {epoch}, step {step} (lr {schedule.get_last_lr()[0]:.3g}). "
                "Training stopped; the last checkpoint, if any, is intact. Try a lower lr, a higher temperature, "
                "or amp=False."
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        method.on_step_end(((epoch - 1) * epoch_steps + i + 1) / total_steps)
        history.steps.append(value)
        sums["loss"] = sums.get("loss", 0.0) + value
        for key, v in logs.items():
            sums[key] = sums.get(key, 0.0) + float(v)
        if bar is not None:
            bar.update(1)
    seconds = time.perf_counter() - started
    record = {"epoch": epoch, **{k: v / epoch_steps for k, v in sums.items()}}
    record.update(lr=schedule.get_last_lr()[0], seconds=seconds, images_per_s=epoch_steps * batch_size / seconds)
    return record


def _measure(method: nn.Module, monitor: tuple[ImageSet, ImageSet] | None, k: int,
             measures: Sequence[Callable[[nn.Module], dict[str, float]]], device: torch.device) -> dict[str, float]:
    results: dict[str, float] = {}
    if monitor is not None:
        bank, queries = monitor
        results["knn"] = knn_accuracy(embed(method, bank.images, device=device), bank.labels,
                                      embed(method, queries.images, device=device), queries.labels, k=k)
    was_training = method.training
    method.eval()
    with torch.no_grad():
        for measure in measures:
            results.update({key: float(value) for key, value in measure(method).items()})
    method.train(was_training)
    return results


def _save_checkpoint(out: Path, method, opt, schedule, epoch: int, history: History) -> None:
    state = {
        "epoch": epoch,
        "method": method.state_dict(),
        "optimizer": opt.state_dict(),
        "schedule": schedule.state_dict(),
        "history": history.to_dict(),
    }
    tmp = out / (CHECKPOINT + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, out / CHECKPOINT)  # atomic: an interrupted save never leaves half a checkpoint
    history.save(out / HISTORY)


def _load_checkpoint(path: Path, method, opt, schedule, config: dict) -> tuple[int, History]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    saved = state["history"]["config"]
    keys = ("method", "dataset", "n_train", "epochs", "batch_size", "lr", "optimizer", "weight_decay", "seed")
    changed = {k: (saved.get(k), config[k]) for k in keys if saved.get(k) != config[k]}
    if changed:
        detail = ", ".join(f"{k}: {a!r} → {b!r}" for k, (a, b) in changed.items())
        raise ValueError(
            f"{path} was written by a run with other settings ({detail}); "
            "use a new out folder, or resume=False to start over in this one"
        )
    method.load_state_dict(state["method"])
    opt.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    return state["epoch"] + 1, History.from_dict(state["history"])


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
