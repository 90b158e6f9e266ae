"""Training methods, each a small ``nn.Module`` with one interface (see :mod:`clkit.methods.base`).

A file per family:

- :mod:`~clkit.methods.contrastive`: :class:`SimCLR`;
- :mod:`~clkit.methods.supervised`: :class:`Supervised`, the labelled baseline;
- :mod:`~clkit.methods.collapse`: :class:`PositivesOnly`, the method built to collapse;
- :mod:`~clkit.methods.redundancy`: :class:`BarlowTwins` and :class:`VICReg`, no negatives, batch statistics.

:data:`METHODS` is the one registry of names; :func:`clkit.recipes.build` makes a method by
name with its recipe's settings.
"""

from clkit.methods.base import Batch, JointEmbedding, Method, StepOutput
from clkit.methods.collapse import PositivesOnly
from clkit.methods.contrastive import SimCLR
from clkit.methods.redundancy import BarlowTwins, VICReg
from clkit.methods.supervised import Supervised

METHODS: dict[str, type[Method]] = {"simclr": SimCLR, "supervised": Supervised, "positives_only": PositivesOnly,
                                    "barlow_twins": BarlowTwins, "vicreg": VICReg}

__all__ = ["METHODS", "Batch", "BarlowTwins", "JointEmbedding", "Method", "PositivesOnly", "SimCLR", "StepOutput",
           "Supervised", "VICReg"]
