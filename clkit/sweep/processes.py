"""Negatives across processes, measured (lesson 21): what gathering the embeddings of every process buys.

W processes that each hold N images of a global batch of W·N can compute their loss in two ways. Gathering
(:class:`clkit.train.distributed.ProcessGather`), each anchor meets the 2WN − 2 other views of the global
batch, as on one process; without it, only the 2N − 2 of its own process, and the run trains as if the batch
were W times smaller for its negatives (though not for its steps). Both measurements here run CPU processes
joined by gloo (:func:`clkit.train.distributed.spawn`):

- :func:`step_check`: one SimCLR step on the same views, W processes against one process on the whole batch:
  the loss and the largest gradient difference relative to the gradient's largest entry;
- :func:`gathering`: SimCLR trained on the same data, global batch and epochs three ways (:data:`MODES`):
  one process, W processes gathering, W processes not gathering; kNN accuracy (the lessons' protocol, k = 20
  on h), training wall time, the loss curve. Results are stored per seed and scale like the other lessons'.

    checks = processes.step_check(world=2)
    runs = processes.stored_or_run(seed=0)
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from clkit import augment, data, evaluate, methods, models, recipes, scale, train
from clkit.data import Batch
from clkit.sweep.run import environment
from clkit.sweep.settings import load_split
from clkit.sweep.store import results_dir
from clkit.train import atomic_write_text, distributed

FORMAT = "clkit.processes/1"
#: The three ways of training one global batch, in the lesson's order.
MODES = ("one process", "gathered", "not gathered")
#: The step check's ways of computing the loss on W processes.
STEP_MODES = ("global logits", "local logits", "not gathered")


@dataclass(frozen=True)
class ProcessSettings:
    """One comparison: SimCLR's recipe for ``shapes`` at the active scale, with these sizes."""

    world: int = 2
    n_train: int = 5000
    n_test: int = 2000
    epochs: int = 10
    batch_size: int = 256  # global: each of the W processes holds batch_size / W
    knn_k: int = 20
    seed: int = 0


PRESETS: dict[str, dict[str, Any]] = {
    "ci": {"n_train": 512, "n_test": 256, "epochs": 1, "batch_size": 64},
    "laptop": {},
    "full": {},  # CPU processes at every scale: the lesson is about the loss, not the device
}


def preset(scale_name: str | None = None) -> dict[str, Any]:
    """The sizes of the comparison at a scale (default: the active one)."""
    name = scale_name or scale.current()
    if name not in PRESETS:
        raise ValueError(f"unknown scale {name!r}; valid scales are {', '.join(PRESETS)}")
    return {**asdict(ProcessSettings()), **PRESETS[name]}


def step_check(world: int = 2, images_per_process: int = 32, seed: int = 0) -> dict[str, dict[str, float]]:
    """One SimCLR step on W processes against one process on the whole batch, for each of :data:`STEP_MODES`.

    Every process draws the whole batch's views with the same seed and keeps its slice, so both sides see the
    same views. Returns, per mode: ``loss`` (the global batch's, averaged over processes where each computes
    its own share), ``reference_loss`` (one process), ``gradient_error`` (the largest difference of any
    parameter's gradient, after DDP's average, over the largest gradient entry).
    """
    reference = _one_step(world, images_per_process, seed, None)
    results = distributed.spawn(_step_worker, world, world, images_per_process, seed)
    return {mode: {"loss": results[0][mode]["loss"], "reference_loss": reference["loss"],
                   "gradient_error": float((results[0][mode]["grads"] - reference["grads"]).abs().max()
                                           / reference["grads"].abs().max())}
            for mode in STEP_MODES}


def _step_method(seed: int) -> methods.SimCLR:
    torch.manual_seed(seed)
    return methods.SimCLR(models.encoder("small_cnn", width=8), augment.simclr(32), projection_dim=32)


def _one_step(world: int, n: int, seed: int, mode: str | None) -> dict[str, Any]:
    """One step of this process (the whole batch when ``mode`` is None); its loss and flattened gradients."""
    images = data.make_shapes(world * n, seed=seed).images  # (W·N, 3, 32, 32) uint8
    method = _step_method(seed)
    torch.manual_seed(seed + 1)
    views = augment.views(images, method.recipes)  # the same global views on every process
    model: torch.nn.Module = method
    if mode is not None:
        mine = slice(distributed.rank() * n, (distributed.rank() + 1) * n)
        views, images = [v[mine] for v in views], images[mine]
        distributed.global_batchnorm(method, torch.device("cpu"))
        method.gather = None if mode == "not gathered" else distributed.ProcessGather(local=mode == "local logits")
        model = torch.nn.parallel.DistributedDataParallel(method)
    method.views = lambda batch: views
    loss, _ = model(Batch(images=images))
    loss.backward()  # with DDP: the gradients averaged over the processes
    loss = loss.detach()
    if mode is not None and mode != "global logits":  # each process's loss is its anchors' share: average them
        torch.distributed.all_reduce(loss)
        loss = loss / world
    grads = torch.cat([p.grad.flatten() for p in method.parameters() if p.grad is not None])
    return {"loss": float(loss), "grads": grads}


def _step_worker(world: int, n: int, seed: int) -> dict[str, Any]:
    return {mode: _one_step(world, n, seed, mode) for mode in STEP_MODES}


def gathering(mode: str, settings: ProcessSettings, progress: bool = False) -> dict[str, Any]:
    """Train SimCLR one of the :data:`MODES` ways; kNN accuracy, wall time and the loss per epoch."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid modes are {', '.join(MODES)}")
    world = 1 if mode == "one process" else settings.world
    if settings.batch_size % world:
        raise ValueError(f"batch_size {settings.batch_size} must split evenly between {world} processes")
    return distributed.spawn(_train_worker, world, asdict(settings), mode != "not gathered", progress)[0]


def _train_worker(settings: dict[str, Any], gather: bool, progress: bool) -> dict[str, Any]:
    s = ProcessSettings(**settings)
    train_set, test_set = load_split("shapes", "train"), load_split("shapes", "test")
    train_set, test_set = train_set.take(s.n_train, seed=s.seed), test_set.take(s.n_test, seed=s.seed)
    r = recipes.recipe("simclr", "shapes", epochs=s.epochs, batch_size=s.batch_size)
    train.seed_everything(s.seed)
    method = recipes.build(r, train_set.shape, len(train_set.classes))
    world = distributed.world_size()
    fit = {**r.fit_settings(), "batch_size": s.batch_size // world}
    started = time.perf_counter()
    history = train.fit(method, train_set, **fit, device="cpu", seed=s.seed, gather=gather,
                        progress=progress and distributed.is_main())
    wall = time.perf_counter() - started
    if not distributed.is_main():
        return {}
    bank, queries = evaluate.embed(method, train_set.images), evaluate.embed(method, test_set.images)
    knn = evaluate.knn_accuracy(bank, train_set.labels, queries, test_set.labels, k=s.knn_k)
    per_process = s.batch_size // world
    negatives = 2 * (s.batch_size if gather else per_process) - 2
    return {"knn": knn, "train_s": sum(history["seconds"]), "wall_s": wall, "loss": history["loss"],
            "negatives": negatives, "world": world, "threads": torch.get_num_threads()}


def stored_or_run(seed: int = 0, rerun: bool = False, progress: bool = False, folder: str | Path | None = None,
                  **sizes: Any) -> dict[str, Any]:
    """The three modes' runs for ``seed`` at the active scale: stored in ``processes_seed{seed}_{scale}.json`` in
    ``folder`` (default :func:`clkit.sweep.results_dir`) when its settings match, else trained and written there
    (each mode as it finishes, so an interrupted run keeps what it did). At the ``ci`` scale, always trained, in a
    temporary folder."""
    current = scale.current()
    settings = ProcessSettings(**{**preset(current), **sizes, "seed": seed})
    if current == "ci":
        folder = Path(tempfile.mkdtemp(prefix="clkit-processes-"))
    folder = Path(folder) if folder is not None else results_dir()
    path = folder / f"processes_seed{seed}_{current}.json"
    results: dict[str, Any] = {"format": FORMAT, "settings": asdict(settings), "scale": current, "runs": {},
                               "environment": environment(torch.device("cpu"))}
    if path.exists() and not rerun:
        stored = json.loads(path.read_text())
        if stored.get("format") == FORMAT and stored["settings"] == asdict(settings):
            results = stored
    for mode in MODES:
        if mode not in results["runs"]:
            results["runs"][mode] = gathering(mode, settings, progress)
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(results, indent=1))
    return results
