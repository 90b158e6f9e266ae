"""The members of the zoo's comparisons: each a method with its recipe's overrides and its name in a table.

:data:`FAMILIES` names every set a lesson compares (the zoo, MoCo's negatives, the SimCLR paper's Table 4
losses, the clustering methods whose clusters lesson 17 shows); :mod:`clkit.sweep.zoo` trains and stores any of them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Member:
    """One row of the zoo: a method of :data:`clkit.methods.METHODS`, its recipe's overrides, and its name in
    the table."""

    method: str
    label: str
    overrides: dict[str, Any] = field(default_factory=dict)


#: The zoo, in the order of its table: the contrastive methods, the methods without negatives, the
#: clustering ones, the metric-learning ancestors; the supervised references last.
ZOO: dict[str, Member] = {
    "simclr": Member("simclr", "SimCLR"),
    "moco": Member("moco", "MoCo v2"),
    "byol": Member("byol", "BYOL"),
    "simsiam": Member("simsiam", "SimSiam"),
    # The same two with four times the optimiser steps for the same images (bench/ablate_zoo.py found steps to be
    # what they lacked at this budget: BYOL at batch 64 for 30 epochs reached 50.8% kNN, against 17% at 256).
    "byol_batch64": Member("byol", "BYOL (batch 64)", {"batch_size": 64}),
    "simsiam_batch64": Member("simsiam", "SimSiam (batch 64)", {"batch_size": 64}),
    "barlow_twins": Member("barlow_twins", "Barlow Twins"),
    "vicreg": Member("vicreg", "VICReg"),
    "swav": Member("swav", "SwAV"),
    "dino": Member("dino", "DINO"),
    "dino_vit": Member("dino", "DINO (ViT)", {"encoder": "small_vit"}),
    "margin": Member("margin", "Margin (views)"),
    "triplet": Member("triplet", "Triplet (views)"),
    "supcon": Member("supcon", "SupCon (labels)"),
    "supervised": Member("supervised", "Supervised (labels)"),
}

#: Members that learn from labels: the table's upper references, not self-supervised methods.
LABELLED = ("supcon", "supervised")

#: The self-supervised members compared again at equal wall time: those that learned at equal epochs on the laptop
#: scale (kNN over 10 points above the higher floor in at least one seed; notebook 14 asserts it). The others,
#: slower per epoch than SimCLR, would train fewer epochs than the 30 that did not teach them the classes.
EQUAL_TIME = ("simclr", "moco", "simsiam", "barlow_twins", "vicreg", "margin", "triplet")

#: Negatives (notebook 15): MoCo's queue against the batch. Without a queue (``queue_size=0``) the negatives are
#: the batch's other keys, so their number follows the batch; with one it does not.
NEGATIVES: dict[str, Member] = {
    "batch32": Member("moco", "batch 32, no queue (31 negatives)", {"batch_size": 32, "options": {"queue_size": 0}}),
    "batch32_queue": Member("moco", "batch 32, queue 4,096", {"batch_size": 32}),
    "batch256": Member("moco", "batch 256, no queue (255 negatives)", {"options": {"queue_size": 0}}),
    "batch256_queue": Member("moco", "batch 256, queue 4,096"),
}

#: The SimCLR paper's Table 4 (notebook 13): NT-Xent against the losses before it, on the same views and network.
LOSSES: dict[str, Member] = {
    "nt_xent": Member("simclr", "NT-Xent"),
    "nt_logistic": Member("nt_logistic", "NT-Logistic"),
    "nt_logistic_sh": Member("nt_logistic", "NT-Logistic (semi-hard)", {"options": {"mining": "semi-hard"}}),
    "margin_triplet": Member("triplet", "Margin triplet", {"options": {"mining": "all"}}),
    "margin_triplet_sh": Member("triplet", "Margin triplet (semi-hard)"),
    "margin": Member("margin", "Margin contrastive (Hadsell)"),
}

#: Clusters (notebook 17): the zoo's clustering members again, their test images' clusters stored with the run.
CLUSTERS: dict[str, Member] = {name: ZOO[name] for name in ("swav", "dino")}

#: Every set of members a lesson compares, by name; each is trained and stored the same way.
FAMILIES: dict[str, dict[str, Member]] = {"zoo": ZOO, "negatives": NEGATIVES, "losses": LOSSES, "clusters": CLUSTERS}


def family_members(family: str) -> dict[str, Member]:
    """The members of a family of :data:`FAMILIES`; an unknown name is refused with the valid ones."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; valid families are {', '.join(FAMILIES)}")
    return FAMILIES[family]
