"""Label efficiency: test accuracy against the number of labels per class.

Two classifiers see the same few labelled training images per class (drawn with a seed, nested: the
images of 5 per class include those of 2 per class):

- ``simclr``: a linear probe (:func:`clkit.evaluate.linear_probe`, its strength chosen on a validation
  split when there are at least 2 labels per class) on the frozen features of a SimCLR encoder that was
  trained, without labels, on every training image;
- ``scratch``: the same network trained from random weights with those labels alone (cross-entropy on
  the same augmented views, :class:`clkit.methods.Supervised`), for the same number of optimiser steps at
  every count, and read by its own classifier.

(Raw pixels with the same probe are the floor; notebook 03 measures them with every label. A tuned probe on
3,072 pixel values costs minutes per count on a CPU, so the curve leaves them out.)

The gap between the first two at few labels is what self-supervision buys: the unlabelled images taught
the encoder what a linear probe on a handful of examples can use.

    results = labels.label_efficiency(seed=0)          # one seed; run 0, 1, 2 and average
    results["per_class"], results["accuracy"]["simclr"], results["accuracy"]["scratch"]
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from clkit import data, evaluate, recipes, scale, train
from clkit.sweep.run import environment
from clkit.sweep.store import results_dir
from clkit.train import atomic_write_text

FORMAT = "clkit.labels/1"
CLASSIFIERS = ("simclr", "scratch")


@dataclass
class LabelSettings:
    """What one label-efficiency run measures.

    Attributes:
        dataset: a name from :data:`clkit.data.DATASETS`.
        per_class: the label counts per class, ascending (the largest at most the smallest class's size).
        n_test: test images (0 for the whole split).
        scratch_steps: optimiser steps of every from-scratch run, whatever its number of labels.
        scratch_batch: its batch size (capped at the number of labelled images).
        seed: the labelled draw, the SimCLR run and the from-scratch runs.

    The SimCLR encoder and the from-scratch network follow the kit's recipes for ``dataset`` at the
    active scale (:func:`clkit.recipes.recipe`), so the encoder is the one every lesson trains.
    """

    dataset: str = "shapes"
    per_class: tuple[int, ...] = (1, 2, 5, 10, 25, 100, 1000)
    n_test: int = 2000
    scratch_steps: int = 400
    scratch_batch: int = 256
    seed: int = 0


_FIELDS = tuple(f.name for f in dataclasses.fields(LabelSettings))


def preset(scale_name: str | None = None) -> dict[str, Any]:
    """Sizes per scale: ``ci`` counts 1, 2 and 5 with 4 steps; ``laptop`` and ``full`` the defaults."""
    name = scale_name or scale.current()
    if name not in scale.SCALES:
        raise ValueError(f"unknown scale {name!r}; valid scales are {', '.join(scale.SCALES)}")
    if name == "ci":
        return {"per_class": (1, 2, 5), "n_test": 200, "scratch_steps": 4, "scratch_batch": 32}
    return {}


def labelled_subset(labels: torch.Tensor, per_class: int, seed: int = 0) -> torch.Tensor:
    """Indices of ``per_class`` examples of every class: the first of one seeded shuffle per class, so the
    subsets of one seed are nested (a larger count keeps the smaller count's examples), in dataset order."""
    labels = labels.long().cpu()
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for c in labels.unique():
        members = torch.nonzero(labels == c).flatten()
        if per_class > len(members):
            raise ValueError(f"{per_class} labels per class asked for, but class {int(c)} has {len(members)}")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return torch.cat(chosen).sort().values


def _check(s: LabelSettings) -> None:
    counts = list(s.per_class)
    if not counts or counts != sorted(set(counts)) or counts[0] < 1:
        raise ValueError(f"per_class must be distinct positive counts in ascending order, got {s.per_class}")
    if s.scratch_steps < 1 or s.scratch_batch < 1:
        raise ValueError(f"scratch_steps and scratch_batch must be at least 1, got {s.scratch_steps}, "
                         f"{s.scratch_batch}")


def from_scratch(labelled: data.ImageSet, test_set: data.ImageSet, s: LabelSettings, device: torch.device) -> float:
    """Test accuracy of the network trained from random weights on ``labelled`` alone for ``s.scratch_steps``
    steps (the epochs that take), read by its own classifier."""
    batch = min(s.scratch_batch, len(labelled))
    epochs = math.ceil(s.scratch_steps / (len(labelled) // batch))
    r = recipes.recipe("supervised", s.dataset)
    train.seed_everything(s.seed)
    model = recipes.build(r, tuple(labelled.images.shape[1:]), len(test_set.classes))
    fit = {**r.fit_settings(), "epochs": epochs, "batch_size": batch}
    train.fit(model, labelled, **fit, device=device, seed=s.seed, progress=False)
    model.eval()
    with torch.no_grad():
        logits = model.classifier(evaluate.embed(model, test_set.images, device=device).to(device))
    return (logits.argmax(1).cpu() == test_set.labels.cpu()).float().mean().item()


def label_efficiency(
    *, device: str | torch.device = "auto", progress: bool = True, scale_name: str | None = None, **settings: Any
) -> dict[str, Any]:
    """One seed's label-efficiency curves (see the module's docstring).

    Args:
        settings: overrides of :class:`LabelSettings`, e.g. ``seed=1`` or ``**preset()``.
    Returns:
        ``format``, ``settings``, ``scale``, ``environment``, ``per_class``, ``accuracy`` (classifier →
        one test accuracy per count), ``simclr_knn`` (the encoder's kNN accuracy with every label, the
        lessons' protocol) and ``wall_s``.
    """
    unknown = sorted(set(settings) - set(_FIELDS))
    if unknown:
        valid = ", ".join(_FIELDS)
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; valid settings are {valid}")
    s = LabelSettings(**{**settings, "per_class": tuple(settings.get("per_class", LabelSettings.per_class))})
    _check(s)
    device = train.resolve_device(device)
    started = time.perf_counter()
    simclr_recipe = recipes.recipe("simclr", s.dataset, scale_name)
    train_set = data.load(s.dataset, "train")
    if simclr_recipe.n_train and simclr_recipe.n_train < len(train_set):
        train_set = train_set.take(simclr_recipe.n_train, seed=s.seed)
    test_set = data.load(s.dataset, "test")
    if s.n_test and s.n_test < len(test_set):
        test_set = test_set.take(s.n_test, seed=s.seed)

    train.seed_everything(s.seed)
    encoder = recipes.build(simclr_recipe, tuple(train_set.images.shape[1:]), len(train_set.classes))
    train.fit(encoder, train_set, **simclr_recipe.fit_settings(), device=device, seed=s.seed, progress=progress)
    h_train, h_test = (evaluate.embed(encoder, x.images, device=device) for x in (train_set, test_set))

    accuracy: dict[str, list[float]] = {name: [] for name in CLASSIFIERS}
    counts = s.per_class
    if progress:
        from tqdm.auto import tqdm

        counts = tqdm(counts, desc="labels per class", unit="count")
    for k in counts:
        index = labelled_subset(train_set.labels, k, s.seed)
        y = train_set.labels[index]
        accuracy["simclr"].append(evaluate.linear_probe(h_train[index], y, h_test, test_set.labels, seed=s.seed))
        accuracy["scratch"].append(from_scratch(train_set[index], test_set, s, device))
    knn = evaluate.knn_accuracy(h_train, train_set.labels, h_test, test_set.labels, k=20)
    return {
        "format": FORMAT,
        "settings": {**asdict(s), "per_class": list(s.per_class)},
        "scale": scale_name or scale.current(),
        "environment": environment(device),
        "per_class": list(s.per_class),
        "accuracy": accuracy,
        "simclr_knn": knn,
        "wall_s": time.perf_counter() - started,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def save(results: dict[str, Any], path: str | Path) -> None:
    """Write one seed's results as JSON (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(results, indent=1))


def load(path: str | Path) -> dict[str, Any]:
    """Read results written by :func:`save`; a file of another kind is refused."""
    results = json.loads(Path(path).read_text())
    if results.get("format") != FORMAT:
        raise ValueError(f"{path} is not a label-efficiency result (format {results.get('format')!r}, "
                         f"expected {FORMAT!r})")
    return results


def stored_or_run(name: str, *, rerun: bool = False, **kwargs: Any) -> dict[str, Any]:
    """The notebook's entry point, as :func:`clkit.sweep.stored_or_run`: the stored results of the active scale
    (``results_dir() / f"{name}_{scale}.json"``) when their settings match, else a fresh run written there;
    at the ``ci`` scale always a fresh run in a temporary folder."""
    current = scale.current()
    folder = Path(tempfile.mkdtemp(prefix="clkit-labels-")) if current == "ci" else results_dir()
    path = folder / f"{name}_{current}.json"
    settings = {k: v for k, v in kwargs.items() if k in _FIELDS}
    wanted = {**asdict(LabelSettings(**settings)), "per_class": list(settings.get("per_class",
                                                                                  LabelSettings.per_class))}
    if path.exists() and not rerun:
        stored = load(path)
        if stored["settings"] == wanted:
            print(f"Loaded stored results: {path.name} (measured {stored['finished']} on "
                  f"{stored['environment']['device_name']}, {stored['wall_s'] / 60:.1f} min). "
                  "Set RERUN = True to measure them again here.")
            return stored
        print(f"{path.name} was made with other settings; measuring again.")
    results = label_efficiency(**kwargs)
    save(results, path)
    return results


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per count and classifier, the mean and sample standard deviation over seeds (runs of equal settings)."""
    from clkit.sweep.seeds import mean_std

    first = runs[0]
    for r in runs[1:]:
        other = {k: v for k, v in r["settings"].items() if k != "seed"}
        if other != {k: v for k, v in first["settings"].items() if k != "seed"}:
            raise ValueError("these runs differ in more than the seed: only runs of the same settings can be averaged")
    stats = {name: [mean_std([r["accuracy"][name][i] for r in runs]) for i in range(len(first["per_class"]))]
             for name in CLASSIFIERS}
    return {
        "per_class": first["per_class"],
        "seeds": [r["settings"]["seed"] for r in runs],
        "mean": {name: [m for m, _ in v] for name, v in stats.items()},
        "std": {name: [sd for _, sd in v] for name, v in stats.items()},
    }
