"""A measured sweep: one SimCLR model per value of one setting, everything else fixed.

    clkit sweep --param temperature --values 0.05,0.1,0.2,0.5,1.0 --seed 0 \
                --out notebooks/results/temperature_sweep_seed0_laptop.json

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

One sweep is one seed. Run it with several (``seed=0, 1, 2``) and :func:`aggregate` gives, per value,
the mean and standard deviation over the seeds of every final metric; the lessons show those, never
a single run's numbers.

The training recipe comes from :mod:`clkit.recipes`, through :class:`SweepSettings`;
:func:`preset` gives the sizes for each ``CLKIT_SCALE`` (ci: seconds, laptop: a few minutes
on a CPU, full: a GPU).

The package, one module a concern; every name is re-exported here, so ``sweep.preset()``
and the rest work without naming a module:

- :mod:`~clkit.sweep.settings`: :class:`SweepSettings` (defaults from the recipe), :data:`SWEEPABLE`,
  :func:`preset`, :func:`settings_from`, :func:`recipe_for` and the sweep's :func:`datasets`;
- :mod:`~clkit.sweep.run`: :func:`sweep`, the per-value training (:func:`build_method`, :func:`heldout_measure`,
  :func:`geometry`), :func:`environment` (where a result was measured) and :func:`stored_or_run`, the notebooks'
  entry point;
- :mod:`~clkit.sweep.store`: the results on disk (:func:`save`, :func:`load`, :func:`results_dir`) and as a
  table (:func:`table`, :func:`format_table`);
- :mod:`~clkit.sweep.seeds`: several seeds of one sweep: :func:`aggregate` (per-value mean and standard
  deviation), :func:`epoch_curves` (the same per epoch), :func:`format_summary`, :func:`format_mean_std`,
  :func:`ranking`, :func:`bars_overlap`;
- :mod:`~clkit.sweep.lessons`: the stored sweeps the lessons show, defined once (``lessons.runs(stem)``);
- :mod:`~clkit.sweep.labels`: label efficiency, a linear probe on SimCLR features against the same network trained
  from scratch on the same few labels;
- :mod:`~clkit.sweep.zoo`: the method zoo at one budget (equal epochs or equal wall time), every method by its
  recipe, measured by the same protocol;
- :mod:`~clkit.sweep.processes`: negatives across processes, what gathering buys (one step against one process,
  and SimCLR trained on one process, on several gathering, on several not gathering);
- :mod:`~clkit.sweep.prose`: the results in words (:func:`describe`, over one seed or several).

To replace a function a sweep calls (a test stubbing the data or the training), patch it in the module
that calls it, e.g. ``clkit.sweep.run._train_one`` or ``clkit.sweep.settings.load_split``: patching the name
re-exported here changes nothing a sweep runs.
"""

from __future__ import annotations

from clkit.sweep import labels, lessons, processes, zoo
from clkit.sweep.prose import describe
from clkit.sweep.run import build_method, environment, geometry, heldout_measure, stored_or_run, sweep
from clkit.sweep.seeds import (
    aggregate,
    as_seeds,
    bars_overlap,
    epoch_curves,
    format_mean_std,
    format_summary,
    mean_std,
    ranking,
)
from clkit.sweep.settings import SWEEPABLE, SweepSettings, datasets, preset, recipe_for, settings_from
from clkit.sweep.store import FINAL_KEYS, FORMAT, format_table, load, results_dir, save, table

__all__ = [
    "labels",
    "lessons",
    "processes",
    "zoo",
    "FINAL_KEYS",
    "FORMAT",
    "SWEEPABLE",
    "SweepSettings",
    "aggregate",
    "as_seeds",
    "bars_overlap",
    "build_method",
    "datasets",
    "describe",
    "environment",
    "epoch_curves",
    "format_mean_std",
    "format_summary",
    "format_table",
    "geometry",
    "heldout_measure",
    "load",
    "mean_std",
    "preset",
    "ranking",
    "recipe_for",
    "results_dir",
    "save",
    "settings_from",
    "stored_or_run",
    "sweep",
    "table",
]
