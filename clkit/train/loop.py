"""The one training loop every method, notebook and command uses.

:func:`fit` takes a method (a :class:`clkit.methods.Method`: ``method(batch)`` returns the
step's loss and logs) and a record (images, image–caption pairs or sentences), and:

- keeps the record on the training device (on a GPU, images as uint8 and channels_last) and
  shuffles indices there, so augmentation runs where the model runs;
- seeds everything from one ``seed``: the order of the data and every augmentation in
  epoch e depend only on (seed, e, rank), which is also what makes a resumed run identical;
- calls ``method(batch)`` through DistributedDataParallel when several processes train, with the
  losses' negatives gathered from every process and BatchNorm over the global batch (see
  :mod:`clkit.train.distributed`): W processes of N images train as one process of W·N;
- keeps convolution weights channels_last, and on a CPU the memory each step frees for the next
  (:func:`~clkit.train.memory.reuse_freed_memory`); uses bf16 autocast on a GPU, float32 on a CPU; on a GPU also
  compiles the networks and the augmentation (``torch.compile``) and steps a fused optimiser;
- keeps losses and logs on the device and reads them every ``log_every`` steps (each read
  is a host synchronisation), which is also when the NaN guard looks;
- shows a progress bar (a widget in Jupyter, text in a terminal) on rank 0;
- runs the kNN monitor and other ``measures`` each ``monitor_every`` epochs (the monitor's features shared
  out among the processes of a distributed run);
- writes a checkpoint and ``history.json`` into ``out`` after every epoch (rank 0), resumes
  from them, and keeps them intact if a run is interrupted or its loss turns NaN/Inf;
- warns once when a whole epoch's loss sits at the value the method's loss takes when every
  view maps to the same point (:meth:`clkit.methods.Method.collapsed_loss`).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from clkit.augment import dense as augment_dense
from clkit.data import ImageSet
from clkit.evaluate import knn_monitor
from clkit.evaluate.features import model_device
from clkit.train import distributed
from clkit.train.checkpoint import CHECKPOINT, Advice, restore, save_checkpoint
from clkit.train.compiling import compile_mode, compile_networks, eager, uses_cuda_graphs
from clkit.train.files import writable_folder
from clkit.train.memory import reuse_freed_memory
from clkit.train.history import History
from clkit.train.optim import OPTIMIZERS, lr_factor, make_optimizer, warmup_steps_for

#: How near the collapsed value, as a fraction of it, an epoch's mean loss sits in a collapsed run.
#: Measured: SimCLR at lr 1e3 on shapes sat 0.7–1.8% below log(2N − 1), its kNN accuracy under the
#: random-init encoder's; healthy runs were 10% or more below it by their second epoch.
COLLAPSE_TOLERANCE = 0.025

Measure = Callable[[nn.Module], dict[str, Any]]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → the CUDA GPU if there is one, else the CPU; anything else is checked and passed through."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    valid = "valid devices are auto, cpu, cuda, cuda:N (the N-th GPU) and mps (Apple silicon)"
    try:
        device = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {str(device)!r}; {valid}") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"clkit cannot train on device {str(device)!r}; {valid}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but no CUDA GPU is available; use device='auto' or 'cpu'")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device='mps' was asked for but there is no Apple GPU; use device='auto' or 'cpu'")
    return device


def seed_everything(seed: int) -> None:
    """Seed torch's CPU and CUDA generators (call before building a model to fix its initial weights)."""
    torch.manual_seed(seed)


def fit(
    method: nn.Module,
    data: Any,
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
    monitor: tuple[Any, Any] | None = None,
    monitor_every: int = 1,
    knn_k: int = 20,
    measures: Sequence[Measure] = (),
    log_every: int = 25,
    out: str | Path | None = None,
    resume: bool = True,
    progress: bool = True,
    callbacks: Sequence[Callable[[dict[str, float]], None]] = (),
    advice: Advice = Advice(),
    gather: bool = True,
    local_logits: bool = False,
    compile: bool | str | None = None,
) -> History:
    """Train ``method`` on ``data`` and return its :class:`History`.

    Args:
        method: a :class:`clkit.methods.Method` (``method(batch) -> StepOutput``).
        data: a record (``len``, ``data[idx]``, ``.to(device)``): an ImageSet, a TextSet, ...;
            labels are passed along (self-supervised methods ignore them).
        epochs: passes over ``data``; the last partial batch of each epoch is dropped.
        batch_size: items per step and per process (contrastive methods make two views of each).
        lr: peak learning rate, reached after ``warmup_epochs`` of linear warm-up, then cosine decay to 0.
        optimizer: ``"adamw"``, ``"sgd"`` (momentum 0.9, Nesterov) or ``"lars"`` (:class:`~clkit.train.optim.LARS`,
            momentum 0.9, trust coefficient 0.001).
        weight_decay: decoupled for AdamW, L2 for SGD and LARS.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or a torch.device.
        seed: fixes data order and augmentations (the model's initial weights are fixed by
            seeding before it is built, see :func:`seed_everything`).
        amp: bf16 autocast; default on for CUDA, off for the CPU.
        monitor: ``(bank, queries)`` records for the kNN monitor on frozen features
            (shorthand for ``measures=[clkit.evaluate.knn_monitor(bank, queries, k=knn_k, shared=True)]``).
        monitor_every: epochs between measurements (the last epoch is always measured).
        knn_k: neighbours for the monitor.
        measures: functions of the method returning ``{name: value}``, run at epoch 0 and every
            ``monitor_every`` epochs and merged into that epoch's record, e.g. alignment and
            uniformity on a fixed batch. They run in eval mode under no_grad.
        log_every: steps between reads of the loss (progress bar, NaN guard); each read waits for the device.
        out: a folder for ``checkpoint.pt`` and ``history.json``, written after every epoch; it is
            created if missing and checked to be writable before training starts.
        resume: continue from ``out/checkpoint.pt`` when it exists (same settings required); a
            finished run says so and trains nothing.
        progress: show a progress bar.
        callbacks: functions called with each epoch's record, e.g. a live plot.
        advice: how the caller resumes and restarts a run, for the messages above (the command
            line words them its own way).
        gather: with several processes, contrast against every process's embeddings (the global batch's
            negatives); False leaves each process its own batch's (what a loss without gathering does).
        compile: compile the method's networks with ``torch.compile`` (default: on a GPU; on a CPU the minutes
            of compilation outweigh what a laptop run gains), and on a GPU the augmentation's fixed-shape path
            too (:mod:`clkit.augment.dense`); True, False, or a torch.compile mode by name
            (:data:`~clkit.train.compiling.COMPILE_MODES`: ``"reduce-overhead"`` runs the networks as CUDA
            graphs). The method's loss stays eager.
        local_logits: with several processes, each computes only its own anchors' logits against every
            process's candidates, instead of the whole global batch's (the same gradients, W times fewer
            logits; see :class:`clkit.train.distributed.ProcessGather`).

    Several processes (``torchrun``): ``batch_size`` is per process, so the global batch is
    ``batch_size × world_size``; a checkpoint resumes with another number of processes when the
    global batch is the same.
    """
    world = distributed.world_size()
    _check_settings(data, epochs, batch_size * world, optimizer, lr, monitor_every, log_every)
    device = resolve_device(device)
    amp = device.type == "cuda" if amp is None else amp
    mode = compile_mode(compile, device)  # None: eager networks
    steps_per_epoch = len(data) // (batch_size * world)
    total_steps = epochs * steps_per_epoch
    config = {
        "method": type(method).__name__,
        "dataset": getattr(data, "name", type(data).__name__),
        "n_train": len(data),
        "epochs": epochs,
        "batch_size": batch_size,
        "global_batch_size": batch_size * world,
        "lr": lr,
        "optimizer": optimizer,
        "weight_decay": weight_decay,
        "warmup_epochs": warmup_epochs,
        "seed": seed,
        "amp": amp,
        "compile": mode or False,
        "device": str(device),
        "world_size": world,
        "gather": gather,
        "local_logits": local_logits,
        "torch": str(torch.__version__),
        "spec": getattr(method, "spec", None),  # the recipe a method was built from: a resumed run must share it
    }

    method.to(device)
    if world > 1 and method_wants_global_batchnorm(method):
        distributed.global_batchnorm(method, device)
    # Convolutions in NHWC: the layout tensor cores read, and on a CPU oneDNN's faster path (eager, the lessons'
    # CNN trains about 1.3x as fast; bench/bench_pipelines.py). Weights of any other shape are left as they are.
    method.to(memory_format=torch.channels_last)
    compiling = mode is not None
    if compiling:
        compile_networks(method, mode=mode)
    opt = make_optimizer(method, optimizer, lr, weight_decay, fused=device.type == "cuda")
    warmup_steps = warmup_steps_for(warmup_epochs, steps_per_epoch)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, warmup_steps, total_steps))

    history = History(config=config)
    start_epoch = 1
    out = writable_folder(out) if out is not None else None
    if out is not None and resume and (out / CHECKPOINT).exists():
        start_epoch, history = restore(out, method, opt, schedule, config, advice)
        history.config = {**history.config, **config}  # the run goes on with these (another world size, say)
        if start_epoch > epochs and distributed.is_main():
            print(f"Nothing to train: {out} holds this run, finished ({history.describe_last()}); "
                  f"{advice.restart} to train it again")

    measures = ([knn_monitor(*monitor, k=knn_k, shared=True)] if monitor is not None else []) + list(measures)
    if measures and not history.epochs:
        history.epochs.append({"epoch": 0, **_measure(method, measures, amp)})

    collapsed = method.collapsed_loss(batch_size * world if gather else batch_size)  # the negatives a loss sees
    gather_before = getattr(method, "gather", None)
    if world > 1 and gather:
        method.gather = distributed.ProcessGather(local=local_logits)
    step = _Step(distributed.wrap(method, device), method, opt, schedule, amp, device, total_steps,
                 graphs=uses_cuda_graphs(mode, device))
    resident_images = device.type == "cuda" and isinstance(data, ImageSet)  # uint8, channels_last, views cut there
    records = data.to(device, torch.channels_last) if resident_images else data.to(device)
    bar = None
    if progress and distributed.is_main() and start_epoch <= epochs:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=(start_epoch - 1) * steps_per_epoch, unit="step", desc="train")
    epoch, saved = start_epoch, start_epoch - 1  # saved: the epoch out/checkpoint.pt holds
    with reuse_freed_memory():  # each step reuses the pages the last one freed (the C heap's, on a CPU)
        try:
            for epoch in range(start_epoch, epochs + 1):
                with augment_dense.compiled(compiling):  # the views' GPU path compiled too (a CPU's path never is)
                    record = _train_epoch(step, records, batch_size, seed, epoch, steps_per_epoch, log_every, history,
                                          bar)
                if measures and (epoch % monitor_every == 0 or epoch == epochs):
                    record.update(_measure(method, measures, amp))
                history.epochs.append(record)
                if epoch > 1 and _sits_at(record["loss"], collapsed):  # not epoch 1: random networks start near it
                    _warn_collapsed(record, collapsed, lr, bar)
                    collapsed = None  # once per run
                if bar is not None:
                    bar.set_postfix({k: f"{v:.3f}" for k, v in record.items() if k in ("loss", "knn")})
                if out is not None and distributed.is_main():
                    save_checkpoint(out, method, opt, schedule, epoch, history)
                    saved = epoch
                for callback in callbacks:
                    callback(record)
        except KeyboardInterrupt:
            history.interrupted = True
        finally:
            if world > 1:
                method.gather = gather_before  # the process group may not outlive the run
            if bar is not None:
                bar.close()  # before any message, so that it starts on a line of its own
    if history.interrupted and distributed.is_main():
        if out is None:
            kept = "no checkpoint was written (pass out=... to keep one)"
        elif saved == 0:
            kept = f"no epoch had finished, so {out} holds no checkpoint yet"
        else:
            kept = f"the checkpoint of epoch {saved} is in {out}; " + advice.resume.format(out=str(out))
        print(f"Interrupted {'after' if saved == epoch else 'during'} epoch {epoch}: {kept}")
    return history


def method_wants_global_batchnorm(method: nn.Module) -> bool:
    """Whether ``method``'s BatchNorm should span every process (SimCLR's global BN, the default); a method
    that groups its own BatchNorm statistics (MoCo's split BN, in place of shuffle-BN) says False through
    its ``global_batchnorm`` attribute."""
    return bool(getattr(method, "global_batchnorm", True))


def _sits_at(loss: float, collapsed: float | None) -> bool:
    """Whether an epoch's mean loss lies within :data:`COLLAPSE_TOLERANCE` of the collapsed value (if any)."""
    return collapsed is not None and abs(loss - collapsed) <= COLLAPSE_TOLERANCE * abs(collapsed)


def _warn_collapsed(record: dict[str, float], collapsed: float, lr: float, bar) -> None:
    """Warn that a whole epoch's loss sat at the collapsed value, on a line of its own beside a progress bar."""
    message = (
        f"the run looks collapsed: the training loss of epoch {record['epoch']} ({record['loss']:.3f}) "
        f"sits at {collapsed:.3f}, its value when every view maps to the same point, so the encoder "
        f"does not tell images apart. A lower learning rate (it is {lr:g}) usually cures a collapse; "
        "a model too small or too briefly trained to have started learning sits there too"
    )
    with bar.external_write_mode() if bar is not None else contextlib.nullcontext():
        warnings.warn(message, stacklevel=3)


def _check_settings(data, epochs: int, global_batch: int, optimizer: str, lr: float, monitor_every: int,
                    log_every: int) -> None:
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if not 1 <= global_batch <= len(data):
        raise ValueError(f"batch_size must be between 1 and the dataset size {len(data)}, got {global_batch}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; valid optimizers are {', '.join(OPTIMIZERS)}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if monitor_every < 1:
        raise ValueError(f"monitor_every must be at least 1 (measure every that many epochs), got {monitor_every}")
    if log_every < 1:
        raise ValueError(f"log_every must be at least 1 (read the loss every that many steps), got {log_every}")


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


class _Step:
    """One optimiser step: ``model(batch)``, backward, the method's hooks around ``opt.step()``."""

    def __init__(self, model, method, opt, schedule, amp: bool, device: torch.device, total_steps: int,
                 graphs: bool = False):
        self.model, self.method, self.opt, self.schedule = model, method, opt, schedule
        self.amp, self.device, self.total_steps, self.graphs = amp, device, total_steps, graphs
        self.done = 0  # steps taken over the whole run, for the methods' schedules

    def __call__(self, batch) -> tuple[Tensor, dict[str, Tensor]]:
        if self.graphs:  # a new step: the CUDA graphs may reuse the last step's output memory
            torch.compiler.cudagraph_mark_step_begin()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            loss, logs = self.model(batch)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.done += 1
        progress = self.done / self.total_steps
        self.method.before_optimizer_step(progress)
        self.opt.step()
        self.schedule.step()
        self.method.after_optimizer_step(progress)
        return loss.detach(), logs


def _train_epoch(step: _Step, records, batch_size: int, seed: int, epoch: int, epoch_steps: int, log_every: int,
                 history: History, bar) -> dict[str, float]:
    # Everything random in this epoch follows from (seed, epoch): the order, shared by every process, and the
    # augmentations, offset by rank so that processes draw different views.
    world, rank = distributed.world_size(), distributed.rank()
    torch.manual_seed(_epoch_seed(seed, epoch) + 7_919 * rank)
    order = torch.randperm(len(records), generator=torch.Generator().manual_seed(_epoch_seed(seed, epoch)))
    order = order.to(records.labels.device if records.labels is not None else "cpu")
    step.done = (epoch - 1) * epoch_steps
    step.method.train()
    if bar is not None:
        bar.set_description(f"epoch {epoch}")
    losses: list[Tensor] = []  # one 0-d tensor per step, on the device
    sums: dict[str, Tensor] = {}
    lrs: list[float] = []
    started = time.perf_counter()
    for i in range(epoch_steps):
        start = (i * world + rank) * batch_size  # this process's slice of the i-th global batch
        lrs.append(step.schedule.get_last_lr()[0])
        loss, logs = step(records[order[start : start + batch_size]])
        losses.append(loss)
        for key, value in logs.items():
            sums[key] = sums[key] + value.detach().float() if key in sums else value.detach().float()
        if (i + 1) % log_every == 0 or i + 1 == epoch_steps:
            _check_finite(losses, epoch, epoch_steps, lrs)  # reads the losses: a sync point, every log_every steps
        if bar is not None:
            bar.update(1)
    seconds = time.perf_counter() - started
    values = torch.stack(losses).float().cpu().tolist()  # the epoch's one bulk read of the step losses
    history.steps.extend(values)
    record = {"epoch": epoch, "loss": sum(values) / epoch_steps}
    record.update({key: float(total) / epoch_steps for key, total in sums.items()})
    record.update(lr=step.schedule.get_last_lr()[0], seconds=seconds,
                  images_per_s=epoch_steps * batch_size * world / seconds)
    return record


def _check_finite(losses: list[Tensor], epoch: int, epoch_steps: int, lrs: list[float]) -> None:
    """Stop the run at the first non-finite loss so far in this epoch, naming its step and learning rate."""
    finite = torch.isfinite(torch.stack(losses))
    if bool(finite.all()):
        return
    first = int((~finite).nonzero()[0])
    value = float(losses[first])
    step = (epoch - 1) * epoch_steps + first + 1
    raise FloatingPointError(
        f"the loss became {value} at epoch {epoch}, step {step} (lr {lrs[first]:.3g}). "
        "Training stopped; the last checkpoint, if any, is intact. Try a lower lr, a higher temperature, "
        "or amp=False."
    )


def _measure(method: nn.Module, measures: Sequence[Measure], amp: bool) -> dict[str, float]:
    """The measures' figures, in eval mode, in the training's precision (bf16 autocast where it trains so), with
    the compiled networks run eager: compiled at other batch sizes (the monitor's), the networks would be compiled
    again, and the training graph with them, for a symbolic batch size (``torch.compile``'s automatic dynamic
    shapes) rather than the one batch size it trains on."""
    results: dict[str, float] = {}
    was_training = method.training
    method.eval()
    device = model_device(method)
    try:
        with torch.no_grad(), eager(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            for measure in measures:
                results.update({key: float(value) for key, value in measure(method).items()})
    finally:
        method.train(was_training)
    return results
