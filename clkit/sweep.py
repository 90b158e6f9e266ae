"""A measured sweep: one SimCLR model per value of one setting, everything else fixed.

    clkit sweep --param temperature --values 0.05,0.1,0.2,0.5,1.0 --out notebooks/results/temperature_sweep_laptop.json

:func:`sweep` trains one model per value with the same seed, data, augmentation and
schedule, and records for each value and each epoch (epoch 0 is the untrained model):

- ``loss`` and the training batches' ``contrastive_acc`` (from the training loop);
- ``knn``: kNN accuracy of the backbone features h, training subset → test set;
- ``alignment`` and ``uniformity`` (Wang & Isola 2020) and ``contrastive_acc_heldout``, the
  pretext task's accuracy, all three on the projection output z (where the loss acts), on a
  fixed held-out batch of two views of test images, the same batch for every value;
- ``temperature_end``: τ at the end of the epoch (it moves only when τ is learned);

and at the end ``linear``, a linear probe on frozen h. The results, with the settings, the
device, the versions and the wall time, are written as JSON (and a CSV table beside it)
after every value, so an interrupted sweep keeps the values it finished and a rerun skips them.

The training recipe lives in one place, :class:`SweepSettings`; :func:`preset` gives the
sizes for each ``CLKIT_SCALE`` (ci: seconds, laptop: a few minutes on a CPU, full: a GPU).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import itertools
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

import clkit
from clkit import augment, data, evaluate, methods, models, scale, train
from clkit.losses import check_temperature

FORMAT = "clkit.sweep/1"

#: Final metrics, in the order of the CSV table.
FINAL_KEYS = ("knn", "linear", "alignment", "uniformity", "contrastive_acc_heldout", "contrastive_acc", "loss",
              "temperature_end")


@dataclass
class SweepSettings:
    """Everything that defines one training run of a sweep; the swept setting is one of these fields.

    The defaults are the kit's SimCLR recipe for ``shapes`` on a CPU: change them here and
    every sweep, the CLI and the notebooks follow. Sizes per scale come from :func:`preset`.

    Attributes:
        dataset: a name from :data:`clkit.data.DATASETS`.
        encoder: ``"small_cnn"`` or ``"resnet18"``.
        n_train: training images (a class-balanced subset, also the kNN bank and the probe's
            training set); 0 for the whole split.
        n_test: test images (kNN queries and probe test set); 0 for the whole split.
        epochs, batch_size, lr, optimizer, weight_decay, warmup_epochs: as in :func:`clkit.train.fit`.
        crop_min: the smallest random crop, as a fraction of the image (SimCLR: 0.08; 0.2 for
            ``shapes``, where an 8% crop often shows only background: see notebook 03).
        temperature: τ of NT-Xent (the initial τ when it is learned).
        learn_temperature: learn τ as CLIP does, a logit scale 1/τ clamped at ``max_logit_scale``.
        projection_dim: width of z.
        knn_k: neighbours of the kNN monitor.
        monitor_every: epochs between measurements (the last epoch is always measured).
        heldout_images: test images whose two fixed views give alignment, uniformity and the
            held-out contrastive accuracy (keep it equal to ``batch_size``: the accuracy of
            picking the partner out of 2N − 1 candidates depends on N).
        seed: one seed for the initial weights, the data order and the augmentations.
    """

    dataset: str = "shapes"
    encoder: str = "small_cnn"
    n_train: int = 5000
    n_test: int = 2000
    epochs: int = 8
    batch_size: int = 256
    lr: float = 2e-3
    optimizer: str = "adamw"
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    crop_min: float = 0.2
    temperature: float = 0.2
    learn_temperature: bool = False
    max_logit_scale: float = 100.0
    projection_dim: int = 128
    knn_k: int = 20
    monitor_every: int = 1
    heldout_images: int = 256
    seed: int = 0


#: Settings a sweep can vary (numbers; the rest name things).
SWEEPABLE = tuple(f.name for f in dataclasses.fields(SweepSettings) if f.type in ("int", "float"))


def preset(scale_name: str | None = None) -> dict[str, Any]:
    """Sizes for a scale (default: the active ``CLKIT_SCALE``), to pass to :func:`sweep` as ``**preset()``.

    ``ci`` trains on 256 images for 2 epochs (seconds); ``laptop`` on 5,000 ``shapes`` images
    for 8 epochs (about a minute per value on 2 CPU cores); ``full`` on all of CIFAR-10 with a
    ResNet-18 for 100 epochs when its files are present, else on all of ``shapes`` for 50 epochs.
    """
    name = scale_name or scale.current()
    if name not in scale.SCALES:
        raise ValueError(f"unknown scale {name!r}; valid scales are {', '.join(scale.SCALES)}")
    if name == "ci":
        return {"n_train": 256, "n_test": 128, "epochs": 2, "batch_size": 128, "heldout_images": 128}
    if name == "laptop":
        return {"n_train": 5000, "n_test": 2000, "epochs": 8}
    if data.available("cifar10"):
        return {"dataset": "cifar10", "encoder": "resnet18", "n_train": 0, "n_test": 0, "epochs": 100,
                "batch_size": 512, "optimizer": "sgd", "lr": 0.12, "weight_decay": 5e-4, "heldout_images": 512,
                "monitor_every": 5, "crop_min": 0.08, "temperature": 0.5}
    return {"n_train": 0, "n_test": 0, "epochs": 50}


def settings_from(**overrides: Any) -> SweepSettings:
    """A :class:`SweepSettings` with ``overrides``; an unknown name is refused with the valid ones."""
    known = {f.name for f in dataclasses.fields(SweepSettings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; valid settings are {', '.join(sorted(known))}")
    return SweepSettings(**overrides)


def environment(device: torch.device) -> dict[str, Any]:
    """Where a result was measured: device, versions, threads."""
    if device.type == "cuda":
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = _cpu_name()
    return {
        "device": str(device),
        "device_name": device_name,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": str(torch.__version__),
        "clkit": clkit.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def sweep(
    param: str,
    values: Sequence[float],
    *,
    out: str | Path | None = None,
    resume: bool = True,
    device: str | torch.device = "auto",
    checkpoints: str | Path | None = None,
    progress: bool = True,
    command: str | None = None,
    scale_name: str | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Train one SimCLR model per value of ``param``, everything else fixed, and record what each learned.

    Args:
        param: the setting to vary, one of :data:`SWEEPABLE` (e.g. ``"temperature"``).
        values: its values, run in the order given.
        out: a JSON file for the results (a CSV table is written beside it, same name, ``.csv``),
            rewritten after every finished value; None keeps the results in memory only.
        resume: when ``out`` already holds results of the same settings, skip the values it has.
            False starts over. Results of other settings are refused, never mixed.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        checkpoints: a folder for each value's training checkpoint (``param=value/``), so an
            interrupted value resumes mid-run; None trains without checkpoints.
        progress: a progress bar per value and one line per finished value.
        command: how the sweep was started, recorded with the results.
        scale_name: the scale whose :func:`preset` the settings came from (default: the active one), recorded.
        settings: overrides of :class:`SweepSettings`, e.g. ``epochs=8`` or ``**preset()``.
    Returns:
        the results (what the JSON holds): ``param``, ``values``, ``settings``, ``environment``,
        ``runs`` (one per finished value: ``value``, ``final`` metrics, per-epoch ``epochs``,
        ``wall_s``), ``wall_s`` (sum over runs) and ``complete``.
    """
    if param not in SWEEPABLE:
        raise ValueError(f"cannot sweep {param!r}; sweepable settings are {', '.join(SWEEPABLE)}")
    if param in settings:
        raise ValueError(f"{param!r} is the swept setting: give its values in `values`, not as a setting")
    kind = float if SweepSettings.__dataclass_fields__[param].type == "float" else int
    values = [kind(v) for v in values]
    if not values:
        raise ValueError("values is empty: give at least one value to sweep")
    if param == "temperature":
        for v in values:
            check_temperature(v)
    base = settings_from(**settings)
    device = train.resolve_device(device)
    fixed = {k: v for k, v in asdict(base).items() if k != param}
    results: dict[str, Any] = {
        "format": FORMAT,
        "param": param,
        "values": values,
        "settings": fixed,
        "scale": scale_name or scale.current(),
        "environment": environment(device),
        "command": command,
        "runs": [],
        "wall_s": 0.0,
        "complete": False,
    }
    out = Path(out) if out is not None else None
    if out is not None and out.exists() and resume:
        stored = load(out)
        _check_same_settings(stored, param, fixed, out)
        results["runs"] = [r for r in stored["runs"] if any(math.isclose(r["value"], v) for v in values)]

    done = [r["value"] for r in results["runs"]]
    todo = [v for v in values if not any(math.isclose(v, d) for d in done)]
    if todo:
        train_set, test_set = datasets(base)
        heldout = _heldout_measure(base, test_set)
    for value in todo:
        run = _train_one(param, value, base, train_set, test_set, heldout, device, checkpoints, progress)
        if run is None:  # interrupted: what is finished is already written
            where = f"in {out}; run the same sweep again to continue" if out is not None else "not written (no out)"
            print(f"Sweep interrupted at {param} = {value:g}; the {len(results['runs'])} finished value(s) are {where}")
            break
        results["runs"].append(run)
        _finish(results, out)  # written after every value
        if progress:
            final = run["final"]
            print(f"{param} = {value:g}: kNN {final['knn']:.3f}, linear {final['linear']:.3f}, "
                  f"alignment {final['alignment']:.3f}, uniformity {final['uniformity']:.3f} "
                  f"({run['wall_s']:.0f} s)")
    _finish(results, None)
    return results


def _finish(results: dict[str, Any], out: Path | None) -> None:
    values = results["values"]
    results["runs"].sort(key=lambda r: min(range(len(values)), key=lambda i: abs(values[i] - r["value"])))
    results["wall_s"] = sum(r["wall_s"] for r in results["runs"])
    results["complete"] = all(any(math.isclose(r["value"], v) for r in results["runs"]) for v in results["values"])
    if out is not None:
        save(results, out)


def _check_same_settings(stored: dict[str, Any], param: str, fixed: dict[str, Any], path: Path) -> None:
    if stored.get("param") != param:
        raise ValueError(f"{path} holds a sweep of {stored.get('param')!r}, not {param!r}; use another out path")
    changed = {k: (stored["settings"].get(k), v) for k, v in fixed.items() if stored["settings"].get(k) != v}
    if changed:
        detail = ", ".join(f"{k}: {a!r} → {b!r}" for k, (a, b) in changed.items())
        raise ValueError(
            f"{path} holds a sweep with other settings ({detail}); use another out path, "
            "or resume=False (--restart) to start it over"
        )


@functools.lru_cache(maxsize=2)
def _load(name: str, split: str) -> data.ImageSet:
    # A sweep (and a notebook running several) loads the same splits again: render or read them once.
    return data.load(name, split)


def datasets(s: SweepSettings) -> tuple[data.ImageSet, data.ImageSet]:
    """The training and test sets a sweep with settings ``s`` uses: class-balanced subsets of
    ``n_train`` and ``n_test`` images drawn with ``s.seed`` (each split is loaded once per process)."""
    train_set = _load(s.dataset, "train")
    test_set = _load(s.dataset, "test")
    if s.n_train and s.n_train < len(train_set):
        train_set = train_set.take(s.n_train, seed=s.seed)
    if s.n_test and s.n_test < len(test_set):
        test_set = test_set.take(s.n_test, seed=s.seed)
    return train_set, test_set


def _heldout_measure(s: SweepSettings, test_set: data.ImageSet) -> Callable[[torch.nn.Module], dict[str, float]]:
    # The same two views of the same test images for every value of the sweep.
    n = min(s.heldout_images, len(test_set))
    images = test_set.take(n, seed=s.seed).images
    return evaluate.view_geometry(images, augment.simclr(images.shape[-1], scale=(s.crop_min, 1.0)), seed=s.seed)


def build_method(s: SweepSettings, in_channels: int, image_size: int) -> methods.SimCLR:
    """The SimCLR model a sweep trains for settings ``s`` (seed the generator first to fix its weights)."""
    return methods.SimCLR(
        models.encoder(s.encoder, in_channels=in_channels),
        augment.simclr(image_size, scale=(s.crop_min, 1.0)),
        projection_dim=s.projection_dim,
        temperature=s.temperature,
        learn_temperature=s.learn_temperature,
        max_logit_scale=s.max_logit_scale,
    )


def geometry(method: methods.SimCLR, heldout: Callable[[torch.nn.Module], dict[str, float]]) -> dict[str, float]:
    """Alignment, uniformity and contrastive accuracy of z on the fixed held-out views, and the current τ.

    Args:
        heldout: an :func:`clkit.evaluate.view_geometry` measure on the held-out images.
    """
    measured = heldout(method)
    return {
        "alignment": measured["alignment"],
        "uniformity": measured["uniformity"],
        "contrastive_acc_heldout": measured["contrastive_acc"],
        "temperature_end": float(method.temperature),
    }


def _train_one(param, value, base, train_set, test_set, heldout, device, checkpoints, progress):
    s = dataclasses.replace(base, **{param: value})
    started = time.perf_counter()
    _, channels, size, _ = train_set.images.shape
    train.seed_everything(s.seed)
    method = build_method(s, channels, size)
    history = train.fit(
        method, train_set, epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, optimizer=s.optimizer,
        weight_decay=s.weight_decay, warmup_epochs=s.warmup_epochs, device=device, seed=s.seed,
        monitor=(train_set, test_set), monitor_every=s.monitor_every, knn_k=s.knn_k,
        measures=[lambda m: geometry(m, heldout)],
        out=None if checkpoints is None else Path(checkpoints) / f"{param}={value:g}",
        progress=progress,
    )
    if history.interrupted:
        return None
    h_train = evaluate.embed(method, train_set.images, device=device)
    h_test = evaluate.embed(method, test_set.images, device=device)
    linear = evaluate.linear_probe(h_train, train_set.labels, h_test, test_set.labels)
    final = {key: history.last(key) for key in FINAL_KEYS if key != "linear"}
    final["linear"] = linear
    return {
        "value": value,
        "final": {key: final[key] for key in FINAL_KEYS},
        "epochs": history.epochs,
        "wall_s": time.perf_counter() - started,
        "environment": environment(device),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


# ----------------------------------------------------------------------------- files


def save(results: dict[str, Any], path: str | Path) -> None:
    """Write ``results`` as JSON at ``path`` and the :func:`table` as CSV beside it, each atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, json.dumps(results, indent=1))
    rows = table(results)
    if rows:
        tmp = path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path.with_suffix(".csv"))


def load(path: str | Path) -> dict[str, Any]:
    """Read results written by :func:`sweep` (or :func:`save`)."""
    results = json.loads(Path(path).read_text())
    if results.get("format") != FORMAT:
        raise ValueError(f"{path} is not a clkit sweep result (format {results.get('format')!r}, expected {FORMAT!r})")
    return results


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def results_dir() -> Path:
    """Where the notebooks keep stored results: the kit's ``notebooks/results`` (``./results`` if not found)."""
    kit = Path(__file__).resolve().parent.parent / "notebooks"
    return kit / "results" if kit.is_dir() else Path("results")


def stored_or_run(
    name: str,
    param: str,
    values: Sequence[float],
    *,
    rerun: bool = False,
    **kwargs: Any,
) -> dict[str, Any]:
    """The notebooks' entry point: show stored results when they match, train them otherwise.

    The results of scale ``s`` live in ``results_dir() / f"{name}_{s}.json"``. They are loaded
    when they exist, are complete and were made with the same settings and values; else the
    sweep runs (resuming what matches) and writes them there. ``rerun=True`` trains from scratch.
    At the ``ci`` scale the sweep always runs, in a temporary folder, so CI exercises the code
    and never writes into the repository.

    Args:
        name: file stem, e.g. ``"temperature_sweep"``.
        param, values, kwargs: as for :func:`sweep` (settings, ``device``, ``progress``, …).
    """
    current = scale.current()
    if current == "ci":
        path = Path(tempfile.mkdtemp(prefix="clkit-sweep-")) / f"{name}_{current}.json"
    else:
        path = results_dir() / f"{name}_{current}.json"
    if path.exists() and not rerun:
        stored = load(path)
        fixed = {k: v for k, v in asdict(settings_from(**_only_settings(kwargs))).items() if k != param}
        same = stored["param"] == param and stored["settings"] == fixed
        if same and stored["complete"] and [float(v) for v in stored["values"]] == [float(v) for v in values]:
            print(f"Loaded stored results: {_relative(path)} (measured {stored['runs'][-1]['finished']} on "
                  f"{stored['environment']['device_name']}, {stored['wall_s'] / 60:.1f} min). "
                  "Set RERUN = True to train them again here.")
            return stored
        if not same:
            print(f"{_relative(path)} was made with other settings; training the sweep again.")
            rerun = True
    kwargs.setdefault("command", f"clkit.sweep.stored_or_run({name!r}, {param!r}, {list(values)!r}) at scale "
                                 f"{current}, from {Path(sys.argv[0]).name}")
    return sweep(param, values, out=path, resume=not rerun, **kwargs)


def _only_settings(kwargs: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(SweepSettings)}
    return {k: v for k, v in kwargs.items() if k in names}


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------- reading results


def table(results: dict[str, Any]) -> list[dict[str, float]]:
    """One row per finished value: the value, the final metrics and the wall time."""
    param = results["param"]
    return [{param: run["value"], **run["final"], "wall_s": round(run["wall_s"], 1)} for run in results["runs"]]


def format_table(results: dict[str, Any]) -> str:
    """A plain-text table: value → kNN, linear, alignment, uniformity, held-out contrastive accuracy, wall time."""
    param = results["param"]
    header = f"{param:>12} {'kNN':>7} {'linear':>7} {'align':>7} {'uniform':>8} {'c-acc':>7} {'loss':>7} {'time':>7}"
    lines = [header]
    for row in table(results):
        lines.append(
            f"{row[param]:>12g} {100 * row['knn']:>6.1f}% {100 * row['linear']:>6.1f}% {row['alignment']:>7.3f} "
            f"{row['uniformity']:>8.3f} {100 * row['contrastive_acc_heldout']:>6.1f}% {row['loss']:>7.3f} "
            f"{row['wall_s']:>6.0f}s"
        )
    return "\n".join(lines)


def describe(results: dict[str, Any]) -> str:
    """What the numbers say, in words: the best value per metric, how each metric moves with the value,
    and whether the pretext task's accuracy ranks the values the way representation quality does."""
    rows = table(results)
    param = results["param"]
    if len(rows) < 2:
        return "Fewer than two finished values: nothing to compare yet."
    rows = sorted(rows, key=lambda r: r[param])
    values = [r[param] for r in rows]
    lines = []
    for key, name in (("knn", "kNN accuracy"), ("linear", "linear-probe accuracy")):
        column = [r[key] for r in rows]
        best = max(range(len(rows)), key=column.__getitem__)
        spread = 100 * (max(column) - min(column))
        lines.append(f"- {name}: best at {param} = {values[best]:g} ({100 * column[best]:.1f}%), "
                     f"{_shape(column)} over {param} from {values[0]:g} to {values[-1]:g}; "
                     f"best − worst = {spread:.1f} points.")
    for key, name in (("alignment", "alignment (lower: positives closer)"),
                      ("uniformity", "uniformity (lower: more uniform)"),
                      ("contrastive_acc_heldout", "held-out contrastive accuracy")):
        column = [r[key] for r in rows]
        lines.append(f"- {name}: {_shape(column)} as {param} grows ({column[0]:.3f} → {column[-1]:.3f}).")
    pretext = [r["contrastive_acc_heldout"] for r in rows]
    quality = [r["linear"] for r in rows]
    best_pretext = values[max(range(len(rows)), key=pretext.__getitem__)]
    best_quality = values[max(range(len(rows)), key=quality.__getitem__)]
    rho = _spearman(pretext, quality)
    lines.append(f"- the best pretext accuracy is at {param} = {best_pretext:g}, the best linear probe at "
                 f"{param} = {best_quality:g}; rank correlation between the two over the sweep: {rho:+.2f}.")
    return "\n".join(lines)


def _shape(column: Sequence[float], tol: float = 0.0) -> str:
    steps = [b - a for a, b in itertools.pairwise(column)]
    if all(d >= -tol for d in steps):
        return "rising"
    if all(d <= tol for d in steps):
        return "falling"
    peak = max(range(len(column)), key=column.__getitem__)
    trough = min(range(len(column)), key=column.__getitem__)
    if 0 < peak < len(column) - 1 and all(d >= -tol for d in steps[:peak]) and all(d <= tol for d in steps[peak:]):
        return "an inverted U"
    if 0 < trough < len(column) - 1 and all(d <= tol for d in steps[:trough]) and all(d >= -tol for d in steps[trough:]):
        return "a U"
    return "not monotonic"


def _spearman(a: Sequence[float], b: Sequence[float]) -> float:
    def ranks(x: Sequence[float]) -> list[float]:
        order = sorted(range(len(x)), key=x.__getitem__)
        r = [0.0] * len(x)
        for rank, i in enumerate(order):
            r[i] = float(rank)
        return r

    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    var = math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
    return cov / var if var else 0.0


def temperature_trends(results: dict[str, Any], key: str = "linear") -> str:
    """A temperature sweep checked against the published trends, in words (``key``: the accuracy to compare).

    - SimCLR, CIFAR-10 (appendix B.9): τ = 0.5 is the best of {0.1, 0.5, 1.0} at convergence;
    - Wang & Liu 2021, CIFAR-10: an inverted U, best near τ = 0.3 (of 0.07, 0.3, 1.0);
    - SimCLR Table 5, ImageNet: the pretext task's accuracy keeps rising as τ falls, the linear
      probe does not.
    """
    if results["param"] != "temperature":
        raise ValueError(f"this is a sweep of {results['param']!r}, not of the temperature")
    rows = sorted(table(results), key=lambda r: r["temperature"])
    accuracy = {r["temperature"]: r[key] for r in rows}
    name = {"linear": "linear probe", "knn": "kNN"}.get(key, key)
    lines = []

    def at(tau: float) -> float | None:
        return next((a for t, a in accuracy.items() if math.isclose(t, tau)), None)

    three = {tau: at(tau) for tau in (0.1, 0.5, 1.0)}
    if all(a is not None for a in three.values()):
        best = max(three, key=three.get)
        listed = ", ".join(f"τ = {t:g}: {100 * a:.1f}%" for t, a in three.items())
        verdict = "as SimCLR found on CIFAR-10" if best == 0.5 else "where SimCLR found 0.5 best on CIFAR-10"
        lines.append(f"- Of τ ∈ {{0.1, 0.5, 1.0}} the best {name} is at τ = {best:g} ({listed}), {verdict}.")
    if len(rows) >= 3:
        taus = [r["temperature"] for r in rows]
        column = [r[key] for r in rows]
        shape = _shape(column)
        peak = taus[max(range(len(rows)), key=column.__getitem__)]
        same = "the same shape as" if shape == "an inverted U" else "not the inverted U of"
        lines.append(f"- The {name} accuracy over τ is {shape}, best at τ = {peak:g}: {same} Wang & Liu's CIFAR-10 "
                     "curve (best near τ = 0.3).")
        pretext = [r["contrastive_acc_heldout"] for r in rows]
        rho = _spearman(pretext, column)
        lines.append(f"- Held-out contrastive accuracy is {_shape(pretext)} as τ grows "
                     f"({100 * pretext[0]:.1f}% at τ = {taus[0]:g}, {100 * pretext[-1]:.1f}% at τ = {taus[-1]:g}); "
                     f"its rank correlation with the {name} accuracy is {rho:+.2f} (SimCLR Table 5: the pretext "
                     "accuracy falls steadily with τ while the linear probe peaks in between).")
    return "\n".join(lines) if lines else "Too few temperatures to compare with the published trends."
