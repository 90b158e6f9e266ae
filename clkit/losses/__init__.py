"""Every loss as a pure function of tensors, with its equation in the docstring, by family.

- :mod:`~clkit.losses.contrastive`: InfoNCE and NT-Xent (with the ``gather=`` hook for
  several processes), their logits and the pretext accuracy read from them;
- :mod:`~clkit.losses.geometry`: alignment and uniformity (Wang & Isola 2020);
- :mod:`~clkit.losses.metric`: supervised metric learning: the margin contrastive loss, triplets
  (given or mined in a labelled batch), SupCon, and SimCLR's NT-Logistic and margin triplet;
- :mod:`~clkit.losses.redundancy`: Barlow Twins and VICReg, which need no negatives;
- :mod:`~clkit.losses.moco`: MoCo's InfoNCE logits against a queue or the batch's keys, and its collapsed value;
- :mod:`~clkit.losses.bootstrap`: BYOL's normalised MSE and SimSiam's negative cosine, positives only;
- :mod:`~clkit.losses.clustering`: SwAV's Sinkhorn codes and swapped prediction, DINO's self-distillation and centre;
- :mod:`~clkit.losses.temperature`: one anchor's softmax and gradient weights, for the
  temperature lesson.
"""

from clkit.losses.clustering import DINOTerms, SwAVTerms, dino_loss, sinkhorn, swav_loss, update_center
from clkit.losses.contrastive import (
    Gather,
    Logits,
    check_pair,
    check_temperature,
    collapsed_nt_xent,
    info_nce,
    nt_xent,
    nt_xent_logits,
    pretext_accuracy,
)
from clkit.losses.bootstrap import negative_cosine, normalized_mse
from clkit.losses.clip import ClipLogits, check_logit_scale, clip_logits, clip_loss, collapsed_clip_loss
from clkit.losses.geometry import alignment, uniformity
from clkit.losses.jepa import jepa_loss
from clkit.losses.preference import bradley_terry_loss, preference_logits
from clkit.losses.metric import (
    MetricTerms,
    batch_margin_contrastive,
    batch_triplet,
    check_margin,
    check_mining,
    margin_contrastive,
    margin_triplet,
    nt_logistic,
    pairwise_distances,
    supcon,
    triplet,
)
from clkit.losses.moco import collapsed_info_nce, moco_logits
from clkit.losses.redundancy import RedundancyTerms, barlow_twins, check_batch, vicreg
from clkit.losses.simcse import collapsed_simcse, simcse_logits, simcse_loss
from clkit.losses.temperature import AnchorWeights, anchor_weights

__all__ = [
    "AnchorWeights", "Gather", "Logits", "RedundancyTerms", "alignment", "anchor_weights", "barlow_twins",
    "check_batch", "check_pair", "check_temperature", "collapsed_nt_xent", "info_nce", "nt_xent",
    "nt_xent_logits", "pretext_accuracy", "uniformity", "vicreg",
    "batch_triplet", "margin_contrastive", "pairwise_distances", "supcon", "triplet",
    "MetricTerms", "batch_margin_contrastive", "check_margin", "check_mining", "margin_triplet", "nt_logistic",
    "DINOTerms", "SwAVTerms", "dino_loss", "sinkhorn", "swav_loss", "update_center",
    "collapsed_info_nce", "moco_logits", "negative_cosine", "normalized_mse",
    "ClipLogits", "check_logit_scale", "clip_logits", "clip_loss", "collapsed_clip_loss",
    "collapsed_simcse", "simcse_logits", "simcse_loss",
    "bradley_terry_loss", "jepa_loss", "preference_logits",
]
