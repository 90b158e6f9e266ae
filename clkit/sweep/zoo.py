"""The method zoo at one budget: every method trained by its recipe on the same images, measured the same way.

Each member of :data:`ZOO` is a method of :data:`clkit.methods.METHODS` with its recipe for the dataset
(:func:`clkit.recipes.recipe`), trained by :func:`clkit.train.fit` on the same class-balanced subset with the
same seed, and measured by the lessons' one protocol: kNN (k = 20) on the backbone features h, the training
images as the bank and the test images as queries, after every epoch (the learning curve); at the end the
tuned linear probe (:func:`clkit.evaluate.linear_probe`), the training wall time (the epochs' training
time, the measurements left out) and the peak memory the training added (:class:`clkit.train.PeakMemory`).
Two references come with every seed: raw pixels and the random-init encoder (BatchNorm statistics
calibrated on the training images, so its features are not a scale artefact). Each epoch also records the
collapse numbers of h and z on 512 test images (:func:`clkit.evaluate.collapse_metrics`: effective ranks,
the spread of z, its uniformity).

Two budgets:

- ``"epochs"``: every member trains :attr:`ZooSettings.epochs` epochs;
- ``"time"``: every member trains for about the wall time SimCLR took for those epochs: its epochs are
  ``epochs × (SimCLR's seconds per epoch) / (its own)``, both read from the ``"epochs"`` results of the
  same seed (at least one epoch). A method that costs more per step (a momentum encoder, multi-crop)
  gets fewer epochs, a cheaper one more.

One file per budget and seed, ``zoo_{budget}_seed{seed}_{scale}.json`` in :func:`results_dir`, rewritten
after each member, so an interrupted zoo keeps what it finished and a rerun trains only the rest.

    results = zoo.stored_or_run("epochs", seed=0)
    zoo.summary([zoo.stored_or_run("epochs", seed=s) for s in (0, 1, 2)])
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

from clkit import evaluate, recipes, scale, train
from clkit.sweep.members import CLUSTERS, EQUAL_TIME, FAMILIES, LABELLED, LOSSES, NEGATIVES, ZOO, Member, family_members
from clkit.sweep.run import environment
from clkit.sweep.seeds import mean_std
from clkit.sweep.settings import load_split
from clkit.sweep.store import results_dir
from clkit.train import PeakMemory, atomic_write_text

__all__ = ["BUDGETS", "CLUSTERS", "EQUAL_TIME", "FAMILIES", "FORMAT", "LABELLED", "LOSSES", "NEGATIVES", "ZOO", "Member", "ZooSettings",
           "SHORT_FAMILIES", "datasets", "family_members", "format_summary", "load", "member_recipe", "preset", "references",
           "settings_from", "stored_or_run", "summary", "train_member", "zoo"]

FORMAT = "clkit.zoo/1"
BUDGETS = ("epochs", "time")


@dataclass(frozen=True)
class ZooSettings:
    """The shared budget of a zoo run.

    Attributes:
        dataset: a name from :data:`clkit.data.DATASETS`.
        n_train, n_test: class-balanced subsets drawn with ``seed`` (0: the whole split).
        epochs: the epochs of the ``"epochs"`` budget (the ``"time"`` budget's reference).
        batch_size: images per step, for every member.
        knn_k: neighbours of the kNN measurement.
        seed: the subsets, the initial weights, the data order and the augmentations.
    """

    dataset: str = "shapes"
    n_train: int = 5000
    n_test: int = 2000
    epochs: int = 30  # SimSiam needs them: 13% kNN after 10 epochs, 44% after 30 (bench/ablate_zoo.py)
    batch_size: int = 256
    knn_k: int = 20
    seed: int = 0


_FIELDS = tuple(f.name for f in dataclasses.fields(ZooSettings))


#: Families that compare variants of fast-learning contrastive methods train 10 epochs at the laptop scale, not 30.
SHORT_FAMILIES = ("negatives", "losses")


def preset(scale_name: str | None = None, family: str = "zoo") -> dict[str, Any]:
    """Sizes per scale: ``ci`` 256 images for one epoch; ``laptop`` the defaults (5,000 images, 30 epochs, one to
    a few minutes per member on a CPU core; 10 epochs for :data:`SHORT_FAMILIES`); ``full`` every image for
    100 epochs. The ``clusters`` family measures on the whole test split at every scale (2,000 images on
    ``shapes``, the laptop's ``n_test`` already)."""
    name = scale_name or scale.current()
    if name not in scale.SCALES:
        raise ValueError(f"unknown scale {name!r}; valid scales are {', '.join(scale.SCALES)}")
    family_members(family)
    laptop = {"epochs": 10} if family in SHORT_FAMILIES else {}
    # The clusters lesson reads the nuisances recorded per test image, so it needs the whole test split, in order.
    test = {"n_test": 0} if family == "clusters" else {"n_test": 128}
    return {"ci": {"n_train": 256, **test, "epochs": 1, "batch_size": 64},
            "laptop": laptop,
            "full": {"n_train": 0, "n_test": 0, "epochs": 100}}[name]


def settings_from(**overrides: Any) -> ZooSettings:
    """A :class:`ZooSettings` with ``overrides``; an unknown name is refused with the valid ones."""
    unknown = sorted(set(overrides) - set(_FIELDS))
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; valid settings are {', '.join(_FIELDS)}")
    return ZooSettings(**overrides)


def datasets(s: ZooSettings):
    """The training and test subsets of settings ``s`` (each split loaded once per process)."""
    train_set, test_set = load_split(s.dataset, "train"), load_split(s.dataset, "test")
    if s.n_train and s.n_train < len(train_set):
        train_set = train_set.take(s.n_train, seed=s.seed)
    if s.n_test and s.n_test < len(test_set):
        test_set = test_set.take(s.n_test, seed=s.seed)
    return train_set, test_set


def member_recipe(name: str, s: ZooSettings, epochs: int | None = None, scale_name: str | None = None,
                  family: str = "zoo") -> recipes.Recipe:
    """The recipe member ``name`` of ``family`` trains with settings ``s`` (``epochs`` overrides the budget's;
    a member's own overrides, such as its batch size, override the shared settings)."""
    members = family_members(family)
    if name not in members:
        raise ValueError(f"no {family} member {name!r}; the members are {', '.join(members)}")
    member = members[name]
    budget = {"n_train": s.n_train, "epochs": epochs or s.epochs, "batch_size": s.batch_size}
    base = recipes.recipe(member.method, s.dataset, scale_name, **budget)
    changes = {k: v for k, v in member.overrides.items() if k != "options"}
    return base.replace(**changes, options={**base.options, **member.overrides.get("options", {})})


def references(s: ZooSettings, device: torch.device) -> dict[str, dict[str, float]]:
    """The floors every member must clear: kNN accuracy of raw pixels, and kNN and linear-probe accuracy of the
    random-init encoder (SimCLR's recipe, seeded with ``s.seed``, BatchNorm calibrated on the training images).

    Raw pixels get no linear probe here: tuning one on 3,072 values per image takes minutes per seed on a CPU,
    several times a member's training (notebook 03 measures it once).
    """
    train_set, test_set = datasets(s)
    train.seed_everything(s.seed)
    random_init = recipes.build(member_recipe("simclr", s), train_set.shape, len(train_set.classes))
    evaluate.calibrate_batchnorm(random_init, train_set.images)
    h_train, h_test = (evaluate.embed(random_init, x.images, device=device) for x in (train_set, test_set))
    pixels = evaluate.knn_accuracy(evaluate.raw_pixels(train_set.images), train_set.labels,
                                   evaluate.raw_pixels(test_set.images), test_set.labels, k=s.knn_k)
    return {"raw_pixels": {"knn": pixels}, "random_init": _accuracies(h_train, h_test, train_set, test_set, s)}


def _accuracies(h_train, h_test, train_set, test_set, s: ZooSettings) -> dict[str, float]:
    return {"knn": evaluate.knn_accuracy(h_train, train_set.labels, h_test, test_set.labels, k=s.knn_k),
            "linear": evaluate.linear_probe(h_train, train_set.labels, h_test, test_set.labels, seed=s.seed)}


def train_member(name: str, s: ZooSettings, device: torch.device, epochs: int | None = None,
                 progress: bool = True, scale_name: str | None = None, family: str = "zoo",
                 curves: bool = True) -> dict[str, Any] | None:
    """Train member ``name`` of ``family`` and measure it (see the module's docstring); None if interrupted.

    ``curves=False`` measures at epoch 0 and at the end only (the ``"time"`` budget: its curves would repeat
    the ``"epochs"`` runs', and the measurements cost a CPU run a third of its time)."""
    train_set, test_set = datasets(s)
    r = member_recipe(name, s, epochs, scale_name, family)
    train.seed_everything(s.seed)
    method = recipes.build(r, train_set.shape, len(train_set.classes))
    with PeakMemory(device) as peak:
        history = train.fit(method, train_set, **r.fit_settings(), device=device, seed=s.seed,
                            monitor=(train_set, test_set), monitor_every=1 if curves else r.epochs, knn_k=s.knn_k,
                            measures=_collapse_measure(method, test_set), progress=progress)
    if history.interrupted:
        return None
    h_train, h_test = (evaluate.embed(method, x.images, device=device) for x in (train_set, test_set))
    seconds = history["seconds"]
    clusters = {}
    if hasattr(method, "assignments"):  # SwAV's prototypes, DINO's outputs: each test image's cluster, for lesson 17
        clusters["assignments"] = torch.cat([method.assignments(chunk.to(device)).cpu()
                                             for chunk in test_set.images.split(512)]).tolist()
    return {
        "member": name,
        "label": family_members(family)[name].label,
        "recipe": asdict(r),
        "epochs_trained": r.epochs,
        "final": {**_accuracies(h_train, h_test, train_set, test_set, s), "wall_s": sum(seconds),
                  "s_per_epoch": sum(seconds) / len(seconds), "peak_mib": peak.mib},
        "memory": peak.kind,
        "epochs": history.epochs,
        **clusters,
    }


#: Test images whose embeddings give the collapse numbers each epoch.
COLLAPSE_IMAGES = 512


def _collapse_measure(method: torch.nn.Module, test_set) -> list:
    """Each epoch, :func:`clkit.evaluate.collapse_metrics` of h and z on the first :data:`COLLAPSE_IMAGES` test
    images (the effective ranks, the spread of z, its uniformity): none for a method without a head."""
    if not hasattr(method, "project"):
        return []
    images = test_set.images[:COLLAPSE_IMAGES]
    return [lambda m: evaluate.collapse_metrics(m.embed(images.to(evaluate.model_device(m))),
                                                m.project(images.to(evaluate.model_device(m))))]


def zoo(budget: str = "epochs", members: list[str] | None = None, *, family: str = "zoo",
        out: str | Path | None = None, reference: dict[str, Any] | None = None, device: str | torch.device = "auto",
        progress: bool = True, scale_name: str | None = None, command: str | None = None,
        **settings: Any) -> dict[str, Any]:
    """Train every member of ``family`` (default: all of :data:`ZOO`) at one budget and seed; write the results
    to ``out`` after each member, resuming a file of the same settings.

    Args:
        family: a name of :data:`FAMILIES` (``"zoo"``, ``"negatives"``, ``"losses"``, ``"clusters"``).
        budget: ``"epochs"`` or ``"time"`` (see the module's docstring).
        reference: for the ``"time"`` budget, the ``"epochs"`` results of the same seed and settings.
        command: how the run was started, recorded with the results.
        settings: overrides of :class:`ZooSettings`, e.g. ``seed=1`` or ``**preset()``.
    """
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; valid budgets are {', '.join(BUDGETS)}")
    known = family_members(family)
    members = list(known) if members is None else list(members)
    unknown = [m for m in members if m not in known]
    if unknown:
        raise ValueError(f"no {family} member(s) {', '.join(unknown)}; the members are {', '.join(known)}")
    s = settings_from(**settings)
    if budget == "time":
        _check_reference(reference, s, members)
    device = train.resolve_device(device)
    out = Path(out) if out is not None else None
    results = {"format": FORMAT, "family": family, "budget": budget, "settings": asdict(s), "scale": scale_name or scale.current(),
               "environment": environment(device), "threads": torch.get_num_threads(), "command": command,
               "members": {},
               "references": {}}
    if out is not None and out.exists():
        stored = load(out)
        if (stored["settings"], stored["budget"], stored["family"]) == (results["settings"], budget, family):
            results.update(members=stored["members"], references=stored["references"])
    if not results["references"]:  # the same for both budgets: the "time" budget takes its reference's
        results["references"] = reference["references"] if budget == "time" else references(s, device)
        _write(results, out)
    for name in members:
        if name in results["members"]:
            continue
        epochs = _epochs_at_equal_time(name, s, reference) if budget == "time" else None
        started = time.perf_counter()
        if epochs == s.epochs:  # the same run as the reference's (SimCLR's, always): training is deterministic
            run = {**reference["members"][name], "reused": "the 'epochs' run of the same seed"}
        else:
            run = train_member(name, s, device, epochs, progress, scale_name, family, curves=budget == "epochs")
        if run is None:
            print(f"Zoo interrupted at {name}; the {len(results['members'])} finished member(s) are kept")
            break
        run["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        results["members"][name] = run
        _write(results, out)
        if progress:
            f = run["final"]
            print(f"{run['label']}: kNN {f['knn']:.3f}, linear {f['linear']:.3f}, {run['epochs_trained']} epochs, "
                  f"{f['wall_s']:.0f} s training ({time.perf_counter() - started:.0f} s with measurements)")
    return results


def _check_reference(reference: dict[str, Any] | None, s: ZooSettings, members: list[str]) -> None:
    if reference is None or reference.get("budget") != "epochs":
        raise ValueError("the 'time' budget needs the 'epochs' results of the same seed: reference=...")
    if reference["settings"] != asdict(s):
        raise ValueError("the reference was measured with other settings; give the 'epochs' results of these")
    missing = [m for m in ["simclr", *members] if m not in reference["members"]]
    if missing:
        raise ValueError(f"the reference lacks {', '.join(dict.fromkeys(missing))}: finish its 'epochs' run first")


def _epochs_at_equal_time(name: str, s: ZooSettings, reference: dict[str, Any]) -> int:
    """Epochs of member ``name`` that take about as long as SimCLR's ``s.epochs`` (at least 1)."""
    per_epoch = {m: reference["members"][m]["final"]["s_per_epoch"] for m in ("simclr", name)}
    return max(1, round(s.epochs * per_epoch["simclr"] / per_epoch[name]))


def _write(results: dict[str, Any], out: Path | None) -> None:
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, json.dumps(results, indent=1))


def load(path: str | Path) -> dict[str, Any]:
    """Read results written by :func:`zoo`; a file of another kind is refused."""
    results = json.loads(Path(path).read_text())
    if not isinstance(results, dict) or results.get("format") != FORMAT:
        raise ValueError(f"{path} is not a zoo result (expected format {FORMAT!r})")
    return results


def stored_or_run(budget: str, seed: int, *, family: str = "zoo", rerun: bool = False,
                  **kwargs: Any) -> dict[str, Any]:
    """The notebooks' entry point: the stored results of this family, budget, seed and scale
    (``{family}_{budget}_seed{seed}_{scale}.json`` in :func:`results_dir`) when they hold the members asked for
    with the same settings, else a run (resuming what matches) written there. The ``"time"`` budget reads its
    reference the same way. At the ``ci`` scale, always a fresh run in a temporary folder."""
    current = scale.current()
    folder = Path(tempfile.mkdtemp(prefix="clkit-zoo-")) if current == "ci" else results_dir()
    settings = {**preset(current, family), **{k: v for k, v in kwargs.items() if k in _FIELDS}, "seed": seed}
    members = kwargs.get("members") or list(family_members(family))
    path = folder / f"{family}_{budget}_seed{seed}_{current}.json"
    if path.exists() and not rerun:
        stored = load(path)
        if stored["settings"] == asdict(settings_from(**settings)) and set(members) <= set(stored["members"]):
            return stored
        print(f"{path.name} lacks members or was made with other settings; training what is missing.")
    if rerun and path.exists():
        path.unlink()
    options = {k: v for k, v in kwargs.items() if k not in _FIELDS}
    if budget == "time":
        options["reference"] = _stored_epochs(folder, seed, current, settings, members, family, options)
    return zoo(budget, family=family, out=path, scale_name=current, **options, **settings)


def _stored_epochs(folder: Path, seed: int, current: str, settings: dict[str, Any], members: list[str],
                   family: str, options: dict[str, Any]) -> dict[str, Any]:
    path = folder / f"{family}_epochs_seed{seed}_{current}.json"
    if path.exists():
        stored = load(path)
        if stored["settings"] == asdict(settings_from(**settings)) and set(members) | {"simclr"} <= set(
                stored["members"]):
            return stored
    wanted = list(dict.fromkeys(["simclr", *members]))
    return zoo("epochs", family=family, out=path, scale_name=current, **{**options, "members": wanted}, **settings)


def _check_seeds_of_one_setting(runs: list[dict[str, Any]]) -> None:
    """Refuse runs that differ in more than the seed: only runs of one family, budget and settings compare."""
    first = runs[0]
    for r in runs[1:]:
        if (r["family"], r["budget"], {**r["settings"], "seed": 0}) != (
                first["family"], first["budget"], {**first["settings"], "seed": 0}):
            raise ValueError("these runs differ in more than the seed: only runs of one family, budget and settings "
                             "average")


def summary(runs: list[dict[str, Any]], keys: tuple[str, ...] = ("knn", "linear", "wall_s", "peak_mib",
                                                                   "epochs_trained")) -> dict[str, dict[str, Any]]:
    """Per member (and reference), the mean and sample standard deviation over seeds of each of ``keys``.

    Returns ``{name: {"label": ..., key: (mean, std), "seeds": n}}``, members in the zoo's order, then
    ``raw_pixels`` and ``random_init``.
    """
    _check_seeds_of_one_setting(runs)
    first = runs[0]
    known = family_members(first["family"])
    table: dict[str, dict[str, Any]] = {}
    for name in (n for n in known if all(n in r["members"] for r in runs)):
        rows = [r["members"][name] for r in runs]
        values = {key: [row["epochs_trained"] if key == "epochs_trained" else row["final"][key] for row in rows]
                  for key in keys}
        table[name] = {"label": known[name].label, "seeds": len(rows),
                       **{k: mean_std(v) if None not in v else (math.nan, math.nan) for k, v in values.items()}}
    for name, label in (("raw_pixels", "Raw pixels"), ("random_init", "Random-init encoder")):
        rows = [r["references"][name] for r in runs]
        table[name] = {"label": label, "seeds": len(rows),
                       **{k: mean_std([row[k] for row in rows]) for k in ("knn", "linear") if k in rows[0]}}
    return table


def paired_differences(runs: list[dict[str, Any]], first: str, second: str, key: str = "knn") -> list[float]:
    """Seed by seed, ``second``'s final ``key`` minus ``first``'s, in the order of ``runs``.

    Two members of one seed train on the same images in the same order, so a difference with one sign in every seed
    says more than two error bars that overlap: the seed-to-seed spread they share cancels.
    """
    _check_seeds_of_one_setting(runs)
    missing = [name for name in (first, second) if any(name not in r["members"] for r in runs)]
    if missing:
        raise ValueError(f"{', '.join(missing)} not in every run; the members are {', '.join(runs[0]['members'])}")
    return [r["members"][second]["final"][key] - r["members"][first]["final"][key] for r in runs]


def format_summary(table: dict[str, dict[str, Any]]) -> str:
    """The summary as a plain-text table (accuracies in %, mean ± std over seeds)."""
    def cell(entry: dict[str, Any], key: str, percent: bool = False, digits: int = 1) -> str:
        if key not in entry or math.isnan(entry[key][0]):
            return "—"
        m, sd = entry[key]
        scale_by = 100 if percent else 1
        return f"{scale_by * m:.{digits}f} ± {scale_by * sd:.{digits}f}"

    width = max(len(entry["label"]) for entry in table.values())
    lines = [f"{'':<{width}} {'kNN %':>13} {'linear %':>13} {'epochs':>7} {'train s':>13} {'peak MiB':>13}"]
    for entry in table.values():
        epochs = f"{entry['epochs_trained'][0]:.0f}" if "epochs_trained" in entry else "—"
        lines.append(f"{entry['label']:<{width}} {cell(entry, 'knn', True):>13} {cell(entry, 'linear', True):>13} "
                     f"{epochs:>7} {cell(entry, 'wall_s', digits=0):>13} {cell(entry, 'peak_mib', digits=0):>13}")
    return "\n".join(lines)
