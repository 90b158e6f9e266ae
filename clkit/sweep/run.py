"""Running a sweep: one model per value, trained, measured and written as it finishes; and the notebooks'
entry point, :func:`stored_or_run`."""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

import clkit
from clkit import data, evaluate, methods, recipes, scale, train
from clkit.losses import check_temperature
from clkit.sweep.settings import SWEEPABLE, SweepSettings, datasets, recipe_for, settings_from
from clkit.sweep.store import FINAL_KEYS, FORMAT, load, results_dir, save


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
    if out is not None:
        _check_out_file(out)
    if out is not None and out.exists() and resume:
        stored = load(out)
        _check_same_settings(stored, param, fixed, out)
        results["runs"] = [r for r in stored["runs"] if any(math.isclose(r["value"], v) for v in values)]

    done = [r["value"] for r in results["runs"]]
    todo = [v for v in values if not any(math.isclose(v, d) for d in done)]
    if todo:
        train_set, test_set = datasets(base)
        heldout = heldout_measure(base, test_set)
    for value in todo:
        run = _train_one(param, value, base, train_set, test_set, heldout, device, checkpoints, progress, resume)
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


def _check_out_file(out: Path) -> None:
    """Refuse, before any training, an ``out`` that names a folder or lies in a folder that cannot be written."""
    if out.is_dir():
        raise ValueError(f"{out} is a folder: out names the JSON file for the results (a CSV table is written "
                         f"beside it), e.g. {out / 'sweep.json'}")
    train.writable_folder(out.parent)


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


def heldout_measure(s: SweepSettings, test_set: data.ImageSet) -> Callable[[torch.nn.Module], dict[str, float]]:
    """The measure a sweep with settings ``s`` applies after every epoch (and at epoch 0, before training):
    :func:`clkit.evaluate.view_geometry` on two fixed views of ``s.heldout_images`` test images, drawn with
    ``s.seed``, the same for every value of the sweep."""
    n = min(s.heldout_images, len(test_set))
    images = test_set.take(n, seed=s.seed).images
    return evaluate.view_geometry(images, recipe_for(s).views(images.shape[-1]), seed=s.seed)


def epochs_of(s: SweepSettings, n_train: int) -> int:
    """The epochs a run with settings ``s`` trains: ``s.epochs``, or when ``s.steps`` is set, the fewest epochs
    that reach that many optimiser steps at ``s.batch_size`` (so a sweep of the batch size can hold the number
    of updates fixed and vary only the batch)."""
    if not s.steps:
        return s.epochs
    return math.ceil(s.steps / max(1, n_train // s.batch_size))


def build_method(s: SweepSettings, in_channels: int, image_size: int, num_classes: int = 10) -> methods.SimCLR:
    """The SimCLR model a sweep trains for settings ``s``: :func:`recipe_for` built by :func:`clkit.recipes.build`
    (seed the generator first to fix its weights). SimCLR has no use for ``num_classes``: it is only
    recorded in the model's ``spec``, with which a checkpoint rebuilds it."""
    return recipes.build(recipe_for(s), (in_channels, image_size, image_size), num_classes)


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


#: How a sweep is resumed and restarted, for the messages of each value's :func:`clkit.train.fit`.
SWEEP_ADVICE = train.Advice(resume="run the same sweep again to continue",
                            restart="pass resume=False (clkit sweep --restart)")


def _train_one(param, value, base, train_set, test_set, heldout, device, checkpoints, progress, resume=True):
    s = dataclasses.replace(base, **{param: value})
    started = time.perf_counter()
    _, channels, size, _ = train_set.images.shape
    train.seed_everything(s.seed)
    method = build_method(s, channels, size, len(train_set.classes))
    history = train.fit(
        method, train_set, epochs=epochs_of(s, len(train_set)), batch_size=s.batch_size, lr=s.lr, optimizer=s.optimizer,
        weight_decay=s.weight_decay, warmup_epochs=s.warmup_epochs, device=device, seed=s.seed,
        monitor=(train_set, test_set), monitor_every=s.monitor_every, knn_k=s.knn_k,
        measures=[lambda m: geometry(m, heldout)],
        out=None if checkpoints is None else Path(checkpoints) / f"{param}={value:g}",
        resume=resume, progress=progress, advice=SWEEP_ADVICE,
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
        name: file stem, e.g. ``"temperature_sweep_seed0"``: one file per name, so give each seed its own
            name (and ``seed=`` among the settings).
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
