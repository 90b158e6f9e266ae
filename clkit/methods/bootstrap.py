"""Methods that learn from positive pairs alone: BYOL and SimSiam.

Both train one view's prediction to match the other view's projection, with a loss of
:mod:`clkit.losses.bootstrap`, and nothing in the loss rules out mapping every image to one point.
What prevents that is an asymmetry between the two branches: a predictor on the online branch,
and a stop-gradient on the other (BYOL adds a slowly moving target network). Both methods take
the two switches the collapse lesson turns off, ``stop_gradient`` and ``predictor``, and log
``z_std``, SimSiam's collapse monitor.

Their loss has a value at collapse (SimSiam's −1, BYOL's 0) but it is also the value a healthy
run heads for, so neither reports it as a telltale (see :meth:`SimSiam.collapsed_loss`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clkit import augment as aug_lib
from clkit.data import Batch
from clkit.losses.bootstrap import negative_cosine, normalized_mse
from clkit.methods.base import JointEmbedding, StepOutput
from clkit.models import Encoder, ProjectionHead, cosine_momentum, ema_update_, momentum_copy

Augment = aug_lib.SimCLRAugment | Sequence[aug_lib.SimCLRAugment]


def z_std(*embeddings: Tensor) -> Tensor:
    """SimSiam's collapse monitor (section 4.1): the mean over dimensions of the std over the batch of ℓ2-normalised
    embeddings, detached. About 1/√D for embeddings spread over the sphere, 0 when all are one point."""
    unit = F.normalize(torch.cat(embeddings).detach().float(), dim=1)
    return unit.std(dim=0).mean()


def predictor_head(width: int, hidden_dim: int, enabled: bool = True) -> nn.Module:
    """The predictor: the projector's block (Linear → BN → ReLU → Linear) from z back to z's width, or, switched
    off, an Identity, so that forward stays the same and the loss compares the projections themselves."""
    return ProjectionHead(width, width, hidden_dim, layers=2) if enabled else nn.Identity()


class _PredictorBranch(JointEmbedding):
    """What BYOL and SimSiam share: two views, a predictor on the online branch (built by each), the stop-gradient."""

    predictor: nn.Module

    def __init__(self, backbone: Encoder, augment: Augment, stop_gradient: bool, **head):
        super().__init__(backbone, augment, **head)
        if len(self.recipes) != 2:
            raise ValueError(f"{type(self).__name__} compares two views of each image, got {len(self.recipes)} "
                             "recipes: pass one recipe (used twice) or a list of two")
        self.stop_gradient = stop_gradient

    def predict(self, z1: Tensor, z2: Tensor) -> tuple[Tensor, Tensor]:
        """The predictor on both views' projections, in one pass (its BatchNorm sees both views, as the head's does)."""
        p1, p2 = self.predictor(torch.cat([z1, z2])).chunk(2)
        return p1, p2

    def collapsed_loss(self, batch_size: int) -> float | None:
        """None: the loss at collapse (every view one point) is the loss's minimum, which a healthy run approaches too.

        A collapsed network makes every prediction equal its target, so the loss sits at its optimum
        (−1 for SimSiam, 0 for BYOL). But the loss only asks the two views of an image to agree, and a
        run that learns makes them agree more and more. Measured on ``shapes`` with a small CNN, 100
        steps: SimSiam runs without the stop-gradient, collapsing, sat at −0.87 to −0.91 (the
        projector's output BatchNorm keeps them off −1; −0.97 without it), while healthy runs were at
        −0.5 and still falling. No band around −1 tells them apart; ``z_std`` does.
        """
        return None


class BYOL(_PredictorBranch):
    r"""BYOL, Bootstrap Your Own Latent (Grill et al. 2020, arXiv:2006.07733).

    An online network (backbone f_θ, projector g_θ, predictor q_θ) predicts the projection that a
    target network (f_ξ, g_ξ, no predictor) gives of the other view. The target receives no
    gradient; after every optimiser step it follows the online weights (section 3.1)::

        loss = ‖q̄_θ(z1) − z̄'2‖² + ‖q̄_θ(z2) − z̄'1‖²      z = g_θ(f_θ(v)), z' = g_ξ(f_ξ(v)), x̄ = x / ‖x‖₂
        ξ ← m ξ + (1 − m) θ,   m = 1 − (1 − m_base)(cos(π k / K) + 1) / 2        (step k of K)

    The loss is the paper's sum of both directions, in [0, 8] (see :func:`~clkit.losses.bootstrap.normalized_mse`).

    The switches of the collapse lesson:

    - ``predictor=False``: the online branch stops at the projector and the loss compares z with z'.
      The paper's Table 5 finds that this collapses even with the moving-average target.
    - ``stop_gradient=False``: the target branch is the online network itself, with the gradient flowing
      through both branches, and there is no moving average. (Through the moving-average target
      a gradient would only reach weights that do not train, so that "ablation" would change
      nothing; sharing the weights is the ablation that does.) BYOL with
      ``stop_gradient=False`` is SimSiam without its stop-gradient, with BYOL's loss; SimSiam's
      Figure 2 shows that run collapse at once. Without the predictor as well it is
      :class:`~clkit.methods.collapse.PositivesOnly`, twice over.

    With ``base_momentum=0`` the target copies the online network after every step, so it *is* the
    online network at every forward: SimSiam, with BYOL's loss (SimSiam's "BYOL without the
    momentum encoder").

    Args:
        backbone, augment: as for :class:`~clkit.methods.SimCLR`; BYOL's own asymmetric pair of
            views is ``clkit.augment.byol(size)``.
        base_momentum: m at the start of training, raised to ``final_momentum`` on a cosine over
            training (the paper: 0.996 → 1, over 1,000 epochs of ImageNet). A short run needs a
            faster target: the time constant 1/(1 − m) is 250 steps at 0.996, most of a ten-epoch
            run of a few hundred steps, and 100 at 0.99, the base solo-learn uses for CIFAR.
        final_momentum: m at the end of training.
        predictor_hidden_dim: the predictor's hidden width (default: the projector's, as in the
            paper, 4,096 for both).
        stop_gradient, predictor: the switches above (True, True is BYOL).
        head: the projector's settings (``projection_dim``, ``hidden_dim``, ``head_layers``, ...),
            as for :class:`~clkit.methods.JointEmbedding`. The paper's projector is Linear(4,096) → BN
            → ReLU → Linear(256), the kit's default head at other widths.

    Logs ``z_std`` (of the online projections) and ``momentum`` (the last update's m; absent
    without a target network).
    """

    def __init__(self, backbone: Encoder, augment: Augment, *, base_momentum: float = 0.996,
                 final_momentum: float = 1.0, predictor_hidden_dim: int | None = None, stop_gradient: bool = True,
                 predictor: bool = True, **head):
        for name, value in (("base_momentum", base_momentum), ("final_momentum", final_momentum)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1] (the target keeps that fraction of its weights at each "
                                 f"step), got {value}")
        super().__init__(backbone, augment, stop_gradient, **head)
        hidden = predictor_hidden_dim or head.get("hidden_dim") or backbone.dim  # the projector's hidden width
        self.predictor = predictor_head(self.head.out_dim, hidden, predictor)
        self.base_momentum, self.final_momentum = base_momentum, final_momentum
        if stop_gradient:
            self.target_backbone = momentum_copy(self.backbone)
            self.target_head = momentum_copy(self.head)
            # A buffer, so the logged value lives on the method's device; recomputed from progress at every step.
            self.register_buffer("momentum", torch.tensor(base_momentum), persistent=False)

    @property
    def has_target(self) -> bool:
        """Whether a moving-average target network exists (it does unless ``stop_gradient=False``)."""
        return self.stop_gradient

    def forward(self, batch: Batch) -> StepOutput:
        views = self.views(batch)
        z1, z2 = self.encode(views)
        p1, p2 = self.predict(z1, z2)
        if self.has_target:
            with torch.no_grad():  # the stop-gradient: no graph is built through the target at all
                t1, t2 = self.encode(views, lambda x: self.target_head(self.target_backbone(x)))
        else:
            t1, t2 = z1, z2  # target = online, the gradient reaching the network through both branches
        loss = normalized_mse(p1, t2) + normalized_mse(p2, t1)
        logs = {"z_std": z_std(z1, z2)}
        if self.has_target:
            logs["momentum"] = self.momentum.clone()
        return StepOutput(loss, logs)

    def after_optimizer_step(self, progress: float) -> None:
        """Move the target towards the online network with this step's momentum on the cosine schedule."""
        if not self.has_target:
            return
        m = cosine_momentum(progress, self.base_momentum, self.final_momentum)
        ema_update_(self.target_backbone, self.backbone, m)
        ema_update_(self.target_head, self.head, m)
        self.momentum.fill_(m)


class SimSiam(_PredictorBranch):
    r"""SimSiam, Simple Siamese networks (Chen & He 2021, arXiv:2011.10566): BYOL without the momentum encoder.

    One encoder f (backbone and projector) on both views, a predictor h on top, and a stop-gradient
    on the side being predicted (section 3)::

        z = f(v),  p = h(z)
        loss = D(p1, stopgrad(z2)) / 2 + D(p2, stopgrad(z1)) / 2,     D(p, z) = −p̄ · z̄  (mean over pairs)

    The loss lies in [−1, 1] (see :func:`~clkit.losses.bootstrap.negative_cosine`).

    The switches of the collapse lesson:

    - ``stop_gradient=False``: the gradient also flows through z into f. SimSiam's Figure 2: the
      loss reaches −1 at once, the std of the ℓ2-normalised output falls to 0 and kNN accuracy to chance.
      The output BatchNorm standardises every dimension over the batch, so z cannot shrink to one
      point: it collapses onto fewer and fewer dimensions instead, and ``z_std`` falls from 1/√D
      towards 1/D (one dimension left), which is 0 on the plot for the paper's D = 2,048 but not for
      a small head (``out_bn=False`` collapses to one point, and faster).
    - ``predictor=False``: the loss compares the projections themselves. The paper's Table 1a: this
      collapses too. With h the identity the stop-gradient only halves the gradient (each half of the
      symmetric loss then gives exactly half the gradient of D(z1, z2)), so it no longer helps.

    The paper also keeps the predictor's learning rate fixed while the rest decays (Table 1c, a small
    gain); the kit's optimiser schedules every parameter group alike, so here it decays with the rest.

    Args:
        backbone, augment: as for :class:`~clkit.methods.SimCLR`.
        predictor_hidden_dim: the predictor's bottleneck width (default: a quarter of z's, as the
            paper's 512 for 2,048).
        stop_gradient, predictor: the switches above (True, True is SimSiam).
        out_bn: BatchNorm without affine parameters on the projector's output, as in the paper.
        head: the projector's other settings (``projection_dim``, ``hidden_dim``, ``head_layers``, ...),
            as for :class:`~clkit.methods.JointEmbedding`. The paper's ImageNet projector has three
            layers of 2,048 (``head_layers=3``); the kit keeps its two-layer head for small CNNs, as
            it does for the other methods.

    Logs ``z_std`` (of the projections z).
    """

    def __init__(self, backbone: Encoder, augment: Augment, *, predictor_hidden_dim: int | None = None,
                 stop_gradient: bool = True, predictor: bool = True, out_bn: bool = True, **head):
        super().__init__(backbone, augment, stop_gradient, out_bn=out_bn, **head)
        width = self.head.out_dim
        self.predictor = predictor_head(width, predictor_hidden_dim or max(1, width // 4), predictor)

    def forward(self, batch: Batch) -> StepOutput:
        z1, z2 = self.encode(self.views(batch))
        p1, p2 = self.predict(z1, z2)
        t1, t2 = (z1.detach(), z2.detach()) if self.stop_gradient else (z1, z2)
        loss = negative_cosine(p1, t2) / 2 + negative_cosine(p2, t1) / 2
        return StepOutput(loss, {"z_std": z_std(z1, z2)})
