"""Measuring a representation on frozen features.

Self-supervised training never sees a label, so we judge the features it learned by what a
cheap classifier can read off them, the encoder frozen, and by the geometry of the space:

- :mod:`~clkit.evaluate.features`: :func:`features` (h or z, for every evaluation), ``embed``,
  ``project``, the raw-pixel baseline, BatchNorm calibration of an untrained network, the features of a
  distributed run shared out among its processes;
- :mod:`~clkit.evaluate.probes`: kNN, linear probe (its strength chosen on a validation split), few-shot, and
  the kNN monitor for ``fit``;
- :mod:`~clkit.evaluate.readout`: the R² of a ridge regression from the features to a continuous nuisance;
- :mod:`~clkit.evaluate.geometry`: alignment, uniformity, effective rank, collapse, view geometry;
- :mod:`~clkit.evaluate.clusters`: a clustering method's clusters against the classes (sizes, purity, NMI);
- :mod:`~clkit.evaluate.neighbours`: nearest neighbours and the closest/farthest pairs.
- :mod:`~clkit.evaluate.retrieval`: image–text models: zero-shot classification by prompts, retrieval recall@k.
- :mod:`~clkit.evaluate.similarity`: sentence similarity: Spearman against graded scores, paraphrase retrieval, bag of words.
"""

from clkit.evaluate.clusters import (
    ClusterReport,
    border_hue,
    chance_nmi,
    cluster_members,
    cluster_report,
    contingency,
    normalized_mutual_information,
    quantile_bins,
)
from clkit.evaluate.features import (SPACES, calibrate_batchnorm, embed, features, model_device, project, raw_pixels,
                                     shared_features)
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
from clkit.evaluate.preferences import pearson, preference_accuracy, preference_report
from clkit.evaluate.spread import h_spread, spread_measure
from clkit.evaluate.retrieval import (prompt_embeddings, random_recall, retrieval_recall, zero_shot_accuracy,
                                      zero_shot_predict)
from clkit.evaluate.similarity import (bag_of_words, paraphrase_retrieval, ranks, sentence_monitor, sentence_scores,
                                      spearman, tf_idf)
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
    "ClusterReport",
    "border_hue",
    "chance_nmi",
    "quantile_bins",
    "cluster_members",
    "cluster_report",
    "contingency",
    "normalized_mutual_information",
    "ALPHA_GRID", "C_GRID", "Neighbours", "Pairs", "SPACES", "alignment", "calibrate_batchnorm", "choose_C",
    "collapse_metrics", "contrastive_accuracy", "r2_score", "readout_report", "ridge_r2", "validation_split",
    "covariance_spectrum", "cross_class_pairs", "effective_rank", "embed", "extreme_pairs", "features", "few_shot",
    "format_table", "geometry_report", "knn_accuracy", "knn_monitor", "linear_probe", "model_device",
    "nearest_neighbours", "neighbour_agreement", "per_dimension_std", "project", "raw_pixels", "report",
    "shared_features", "singular_values", "uniformity", "view_geometry", "within_class_pairs",
    "prompt_embeddings", "random_recall", "retrieval_recall", "zero_shot_accuracy", "zero_shot_predict",
    "bag_of_words", "paraphrase_retrieval", "ranks", "sentence_monitor", "sentence_scores", "spearman", "tf_idf",
    "h_spread", "pearson", "preference_accuracy", "preference_report", "spread_measure",
]
