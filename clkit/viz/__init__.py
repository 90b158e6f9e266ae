"""Figures for the lessons.

Every function here returns a figure and shows nothing by itself: a notebook cell that
ends with one displays it, and a test can look inside it. Static figures are matplotlib
``Figure`` objects made without pyplot, so nothing is drawn twice and no global state leaks
between cells.

The package is split by what is drawn; every name is re-exported here, so ``viz.image_grid``
and the rest work without naming a module:

- :mod:`~clkit.viz.style`: the shared style (text of 11 pt or more, figures no wider than a notebook shows
  unscaled), the colour palettes that survive colour-vision deficiency, PNG display in IPython, image/array
  conversion;
- :mod:`~clkit.viz.images`: image grids, augmented views, neighbour and pair galleries, the thumbnail atlas;
- :mod:`~clkit.viz.curves`: training curves, result bars, :class:`LivePlot` and the sweep figures;
- :mod:`~clkit.viz.comparisons`: measured runs side by side: a two-factor ablation, one setting under two
  conditions, label-efficiency curves;
- :mod:`~clkit.viz.losses`: the loss itself: similarity heatmaps, the softmax over negatives, temperature;
- :mod:`~clkit.viz.embeddings`: embedding spaces: UMAP, the circle and the sphere, the
  alignment–uniformity plane, the collapse dashboard, class-sorted similarities;
- :mod:`~clkit.viz.interactive`: plotly figures (the UMAP map, the sphere), with image thumbnails on hover
  (script in ``hover.js``);
- :mod:`~clkit.viz.clip`: the CLIP lesson: captioned images, the image × caption similarity matrix, the learned
  logit scale, labelled score bars, retrieval recall;
- :mod:`~clkit.viz.collapse`: collapse without negatives: several runs' kNN, spread and effective rank per epoch or
  as bars; Barlow Twins' cross-correlation matrix kept per epoch by a measure for ``fit``, drawn as heatmaps;
- :mod:`~clkit.viz.clusters`: what SwAV's prototypes and DINO's outputs gather: galleries per cluster, cluster sizes;
- :mod:`~clkit.viz.processes`: negatives across processes: one step against one process, training three ways;
- :mod:`~clkit.viz.zoo`: the method zoo: learning curves by family of methods, every member at two budgets;
- :mod:`~clkit.viz.toy`: the margin lesson's toy: its views, the embeddings, the push on every negative, the τ → 0 limit;
- :mod:`~clkit.viz.twin`: a plotly figure that carries a static matplotlib twin of its data, shown wherever
  plotly is not.
"""

from __future__ import annotations

from clkit.viz.clusters import cluster_gallery, cluster_sizes, factor_nmi_bars
from clkit.viz.clip import caption_gallery, logit_scale_figure, recall_bars, score_bars, similarity_figure
from clkit.viz.collapse import CrossCorrelations, collapse_bars, collapse_curves, cross_correlation_figure
from clkit.viz.comparisons import ablation_bars, label_efficiency_figure, readout_bars, sweeps_figure
from clkit.viz.curves import (
    LivePlot,
    alignment_uniformity_figure,
    history_figure,
    learned_temperature_figure,
    pretext_vs_quality_figure,
    results_bars,
    sweep_accuracy_figure,
    sweep_curves_figure,
)
from clkit.viz.embeddings import (
    alignment_uniformity_plane,
    cache_umap_kernels,
    circle_figure,
    collapse_dashboard,
    similarity_by_class,
    sphere_panels,
    umap_embed,
    umap_panels,
)
from clkit.viz.images import image_grid, neighbour_gallery, pair_gallery, thumbnail_atlas, views_figure
from clkit.viz.interactive import HoverThumbnails, hover_thumbnails, sphere_figure, umap_plotly
from clkit.viz.processes import gathering_runs, step_errors
from clkit.viz.prediction import bradley_terry_figure, jepa_masks_figure, prediction_curves, reward_scatter
from clkit.viz.losses import (
    anchor_temperature_figure,
    loss_vs_temperature,
    same_class_push,
    same_class_push_figure,
    similarity_heatmap,
    softmax_over_negatives,
)
from clkit.viz.style import _display_figures_as_png, class_colours, class_markers, to_numpy_image
from clkit.viz.toy import push_figure, toy_embeddings_figure, toy_figure, zero_temperature_figure
from clkit.viz.zoo import zoo_bars, zoo_curves

__all__ = [
    "cluster_gallery",
    "cluster_sizes",
    "factor_nmi_bars",
    "ablation_bars",
    "label_efficiency_figure",
    "readout_bars",
    "sweeps_figure",
    "HoverThumbnails",
    "LivePlot",
    "alignment_uniformity_figure",
    "alignment_uniformity_plane",
    "anchor_temperature_figure",
    "cache_umap_kernels",
    "circle_figure",
    "class_colours",
    "class_markers",
    "collapse_dashboard",
    "history_figure",
    "hover_thumbnails",
    "image_grid",
    "learned_temperature_figure",
    "loss_vs_temperature",
    "neighbour_gallery",
    "pair_gallery",
    "pretext_vs_quality_figure",
    "results_bars",
    "same_class_push",
    "same_class_push_figure",
    "similarity_by_class",
    "similarity_heatmap",
    "softmax_over_negatives",
    "sphere_figure",
    "sphere_panels",
    "sweep_accuracy_figure",
    "sweep_curves_figure",
    "thumbnail_atlas",
    "to_numpy_image",
    "umap_embed",
    "umap_panels",
    "umap_plotly",
    "views_figure",
    "push_figure",
    "CrossCorrelations",
    "collapse_bars",
    "collapse_curves",
    "cross_correlation_figure",
    "zoo_bars",
    "zoo_curves",
    "caption_gallery", "logit_scale_figure", "recall_bars", "score_bars", "similarity_figure",
    "toy_embeddings_figure",
    "toy_figure",
    "zero_temperature_figure",
    "bradley_terry_figure", "jepa_masks_figure", "prediction_curves", "reward_scatter",
    "gathering_runs", "step_errors",
]

_display_figures_as_png()
