"""I-JEPA: predict the features of hidden blocks of an image from the rest, with no negatives and no pixels."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from clkit import augment as aug_lib
from clkit.augment.masks import block_masks
from clkit.data import Batch, to_float
from clkit.losses.jepa import jepa_loss
from clkit.methods.base import Method, StepOutput
from clkit.models import Encoder, cosine_momentum, ema_update_, momentum_copy
from clkit.models.tokens import TokenPredictor, cell_size, grid_tokens


class JEPA(Method):
    r"""I-JEPA, the image joint-embedding predictive architecture (Assran et al. 2023, arXiv:2301.08243).

    For each image x, cut into a grid of K cells (8 × 8 pixels: a ViT's patches, or the cells of a CNN's
    last 4 × 4 feature map), draw target blocks T (:func:`~clkit.augment.masks.block_masks`); the context is
    the rest::

        s_y = LN(f_ξ(x))_T                      the target encoder's tokens at the target cells, layer-normed
        ŝ_y = g_φ(f_θ(x restricted to the context), T)      the predictor fills the target cells
        loss = (1/|T|) Σ_{k ∈ T} (1/D) ‖ŝ_k − s_k‖²
        ξ ← m ξ + (1 − m) θ,   m from ``base_momentum`` to ``final_momentum`` on a cosine

    No pixels are reconstructed and no negatives are contrasted: the loss lives in feature space, where the
    encoder may discard detail it cannot predict. A constant encoder would make every prediction exact, so,
    as in BYOL, what keeps the run from it is the asymmetry: a predictor on one side, and a target that takes
    no gradient and follows the encoder slowly.

    The switch of the collapse lesson: ``stop_gradient=False`` makes the target the encoder itself, gradient
    and all, with no moving average. ``base_momentum=0`` (with ``final_momentum=0``) keeps the stop-gradient
    but copies the encoder into the target after every step.

    For evaluation, ``embed`` is the mean of the encoder's tokens over the whole image (I-JEPA's average-pooled
    probe; for ``small_cnn`` exactly its features h).

    Args:
        backbone: ``small_cnn`` or ``small_vit`` (any encoder :func:`~clkit.models.tokens.grid_tokens` reads).
        augment: an optional recipe drawn once per image; context and target both see that same view
            (I-JEPA trains without hand-made views; its only augmentation is a random resized crop).
        context_augment: an optional recipe applied to the context's image alone, after ``augment``; it must
            not move pixels (no crop, no flip: a cell of the context must stay the cell of the target), so it is
            a colour distortion, e.g. ``clkit.augment.simclr(32, scale=(1, 1), ratio=(1, 1), flip_p=0)``. The
            target then shows colours the context cannot predict, which the features should then drop.
        image_size: the side of the training images, which fixes the grid the predictor's positions are for.
        predictor_width, predictor_depth, predictor_heads: the predictor's size (:class:`TokenPredictor`).
        blocks, block_side, max_target: the target blocks per image, their side in cells, and the largest
            fraction of the image they may hide together (:func:`~clkit.augment.masks.block_masks`).
        base_momentum, final_momentum: the target's momentum at the start and end of training (I-JEPA:
            0.996 → 1 over 300 epochs; a run of a few hundred steps needs a faster target).
        stop_gradient: False makes the target the encoder itself (the collapse switch above).

    Logs ``target_std``: SimSiam's collapse monitor on the mean target token of each image, about 1/√D when
    the images spread and 0 when they all map to one vector.
    """

    def __init__(self, backbone: Encoder, augment: aug_lib.SimCLRAugment | None = None, *,
                 context_augment: aug_lib.SimCLRAugment | None = None, image_size: int = 32,
                 predictor_width: int = 64, predictor_depth: int = 2, predictor_heads: int = 2, blocks: int = 4,
                 block_side: tuple[int, int] = (1, 2), max_target: float = 0.5, base_momentum: float = 0.99,
                 final_momentum: float = 1.0, stop_gradient: bool = True):
        super().__init__()
        for name, value in (("base_momentum", base_momentum), ("final_momentum", final_momentum)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1] (the target keeps that fraction of its weights at each "
                                 f"step), got {value}")
        if context_augment is not None and (context_augment.scale != (1.0, 1.0) or context_augment.ratio != (1.0, 1.0)
                                            or context_augment.flip_p > 0 or context_augment.size != image_size):
            raise ValueError("context_augment must keep every pixel where it is (scale=(1, 1), ratio=(1, 1), flip_p=0, "
                             "size = image_size): the context's cells must stay the target's cells")
        self.backbone, self.augment, self.context_augment = backbone, augment, context_augment
        cell = cell_size(backbone)
        if image_size % cell:
            raise ValueError(f"image_size {image_size} must be a multiple of the encoder's cell of {cell} pixels")
        self.grid = (image_size // cell, image_size // cell)
        self.masking = dict(blocks=blocks, side=block_side, max_fraction=max_target)
        block_masks(1, self.grid, **self.masking)  # checks the masking settings now, not at the first step
        self.predictor = TokenPredictor(backbone.dim, self.grid[0] * self.grid[1], predictor_width,
                                        predictor_depth, predictor_heads)
        self.base_momentum, self.final_momentum = base_momentum, final_momentum
        self.stop_gradient = stop_gradient
        if stop_gradient:
            self.target_backbone = momentum_copy(backbone)
            self.register_buffer("momentum", torch.tensor(base_momentum), persistent=False)

    def embed(self, inputs: Tensor) -> Tensor:
        """h: the mean of the encoder's tokens over the whole image, (N, C, H, W) → (N, backbone.dim)."""
        return grid_tokens(self.backbone, to_float(inputs)).mean(dim=1)

    def targets(self, images: Tensor) -> Tensor:
        """s: the target encoder's tokens of the whole image, layer-normed over features, (N, K, D)."""
        if self.stop_gradient:
            with torch.no_grad():  # the stop-gradient: no graph is built through the target
                tokens = grid_tokens(self.target_backbone, images)
        else:
            tokens = grid_tokens(self.backbone, images)  # the ablation: the gradient flows through the target
        return F.layer_norm(tokens, tokens.shape[-1:])

    def forward(self, batch: Batch) -> StepOutput:
        x = to_float(batch.images)
        if self.augment is not None:
            x = self.augment(x)
        if x.shape[-2:] != (self.grid[0] * cell_size(self.backbone),) * 2:
            raise ValueError(f"JEPA was built for {self.grid[0] * cell_size(self.backbone)}-pixel images, "
                             f"got {tuple(x.shape[-2:])}")
        target = block_masks(len(x), self.grid, **self.masking, device=x.device)  # (N, K) True: hidden
        context = x if self.context_augment is None else self.context_augment(x)
        predicted = self.predictor(grid_tokens(self.backbone, context, keep=~target), target)
        s = self.targets(x)
        loss = jepa_loss(predicted, s, target)
        mean_token = F.normalize(s.detach().mean(dim=1).float(), dim=1)  # (N, D)
        logs = {"target_std": mean_token.std(dim=0).mean()}
        if self.stop_gradient:
            logs["momentum"] = self.momentum.clone()
        return StepOutput(loss, logs)

    def after_optimizer_step(self, progress: float) -> None:
        """Move the target towards the encoder with this step's momentum on the cosine schedule."""
        if not self.stop_gradient:
            return
        m = cosine_momentum(progress, self.base_momentum, self.final_momentum)
        ema_update_(self.target_backbone, self.backbone, m)
        self.momentum.fill_(m)
