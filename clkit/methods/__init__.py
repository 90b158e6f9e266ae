"""Training methods, each a small ``nn.Module`` with one interface (see :mod:`clkit.methods.base`).

A file per family:

- :mod:`~clkit.methods.contrastive`: :class:`SimCLR`;
- :mod:`~clkit.methods.supervised`: :class:`Supervised`, the labelled baseline;
- :mod:`~clkit.methods.collapse`: :class:`PositivesOnly`, the method built to collapse;
- :mod:`~clkit.methods.moco`: :class:`MoCo` (v2, and v3's symmetric in-batch form): a momentum key encoder and a queue;
- :mod:`~clkit.methods.bootstrap`: :class:`BYOL` and :class:`SimSiam`, positives only, a predictor and a stop-gradient;
- :mod:`~clkit.methods.redundancy`: :class:`BarlowTwins` and :class:`VICReg`, no negatives, batch statistics;
- :mod:`~clkit.methods.clustering`: :class:`SwAV` and :class:`DINO`, clusters from multi-crop views;
- :mod:`~clkit.methods.metric`: :class:`SupCon` (labels) and the Siamese losses :class:`MarginContrastive`,
  :class:`Triplet` and :class:`NTLogistic`.
- :mod:`~clkit.methods.simcse`: :class:`SimCSE`, sentence embeddings with dropout as the augmentation (or triples).
- :mod:`~clkit.methods.clip`: :class:`CLIP`, images and captions in one space (a :class:`TextTower` for the text).

:data:`METHODS` is the one registry of names; :func:`clkit.recipes.build` makes a method by
name with its recipe's settings.
"""

from clkit.methods.base import Batch, JointEmbedding, Method, StepOutput
from clkit.methods.bootstrap import BYOL, SimSiam
from clkit.methods.clip import CLIP, TextTower
from clkit.methods.clustering import DINO, SwAV
from clkit.methods.collapse import PositivesOnly
from clkit.methods.contrastive import SimCLR
from clkit.methods.jepa import JEPA
from clkit.methods.preference import RewardModel
from clkit.methods.metric import MarginContrastive, NTLogistic, Siamese, SupCon, Triplet
from clkit.methods.moco import MoCo
from clkit.methods.redundancy import BarlowTwins, VICReg
from clkit.methods.simcse import SimCSE
from clkit.methods.supervised import Supervised

METHODS: dict[str, type[Method]] = {"simclr": SimCLR, "supervised": Supervised, "positives_only": PositivesOnly,
                                    "moco": MoCo, "byol": BYOL, "simsiam": SimSiam, "barlow_twins": BarlowTwins,
                                    "vicreg": VICReg, "swav": SwAV, "dino": DINO, "supcon": SupCon, "margin": MarginContrastive,
                                    "triplet": Triplet, "nt_logistic": NTLogistic}

__all__ = ["BYOL", "DINO", "METHODS", "SwAV", "Batch", "BarlowTwins", "MarginContrastive", "MoCo", "NTLogistic", "Siamese", "SimSiam", "SupCon", "Triplet", "JointEmbedding", "Method", "PositivesOnly", "SimCLR", "StepOutput",
           "Supervised", "VICReg"]
__all__ += ["SimCSE"]  # sentences, not images: no image recipe, so not in METHODS (which recipes and the CLI read)
__all__ += ["CLIP", "TextTower"]  # image–caption pairs: no single-modality recipe, so not in METHODS either
__all__ += ["JEPA", "RewardModel"]  # built by hand in lesson 20 (no recipe yet), so not in METHODS either
