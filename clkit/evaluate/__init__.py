"""Measuring a representation on frozen features.

Self-supervised training never sees a label, so we judge the features it learned by what a
cheap classifier can read off them, the encoder frozen, and by the geometry of the space:

- :mod:`~clkit.evaluate.features`: :func:`features` (h or z, for every evaluation), ``embed``,
  ``project``, the raw-pixel baseline, BatchNorm calibration of an untrained network;
- :mod:`~clkit.evaluate.probes`: kNN, linear probe (its strength chosen on a validation split), few-shot, and
  the kNN monitor for ``fit``;
- :mod:`~clkit.evaluate.readout`: the R² of a ridge regression from the features to a continuous nuisance;
- :mod:`~clkit.evaluate.geometry`: alignment, uniformity, effective rank, collapse, view geometry;
- :mod:`~clkit.evaluate.neighbours`: nearest neighbours and the closest/farthest pairs.
"""

from clkit.evaluate.features import SPACES, calibrate_batchnorm, embed, features, model_device, project, raw_pixels
from clkit.evaluate.geometry import (
    alignment,
    collapse_metrics,
    contrastive_accuracy,
    covariance_spectrum,
    effective_rank,
    geometry_report,
    per_dimension_std,
    singular_values,
    uniformity,
    view_geometry,
)
from clkit.evaluate.neighbours import (
    Neighbours,
    Pairs,
    cross_class_pairs,
    extreme_pairs,
    nearest_neighbours,
    within_class_pairs,
)
from clkit.evaluate.readout import ALPHA_GRID, r2_score, readout_report, ridge_r2
from clkit.evaluate.probes import (
    C_GRID,
    choose_C,
    few_shot,
    format_table,
    knn_accuracy,
    knn_monitor,
    linear_probe,
    neighbour_agreement,
    report,
    validation_split,
)

__all__ = [
    "ALPHA_GRID", "C_GRID", "Neighbours", "Pairs", "SPACES", "alignment", "calibrate_batchnorm", "choose_C",
    "collapse_metrics", "contrastive_accuracy", "r2_score", "readout_report", "ridge_r2", "validation_split",
    "covariance_spectrum", "cross_class_pairs", "effective_rank", "embed", "extreme_pairs", "features", "few_shot",
    "format_table", "geometry_report", "knn_accuracy", "knn_monitor", "linear_probe", "model_device",
    "nearest_neighbours", "neighbour_agreement", "per_dimension_std", "project", "raw_pixels", "report", "singular_values", "uniformity",
    "view_geometry", "within_class_pairs",
]
