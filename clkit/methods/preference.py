"""The reward model of preference learning: an encoder and a scalar head, trained on pairs by Bradley–Terry."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from clkit import augment as aug_lib
from clkit.data import to_float
from clkit.data.preferences import PreferencePairs
from clkit.losses.preference import bradley_terry_loss
from clkit.methods.base import Method, StepOutput
from clkit.models import Encoder


class RewardModel(Method):
    r"""A reward model (Christiano et al. 2017, arXiv:1706.03741; Ouyang et al. 2022, arXiv:2203.02155).

    The backbone f maps an image to features h, a linear head w to one number, its reward
    r(x) = wᵀ f(x) + b. Trained on pairs where the chosen image x⁺ was preferred to x⁻::

        r⁺ = r(x⁺),  r⁻ = r(x⁻),    loss = −(1/N) Σ log σ(r⁺ − r⁻)        (Bradley–Terry)

    which is InfoNCE with the rewards as logits and one negative (:mod:`clkit.losses.preference`). InstructGPT's
    reward model is a language model with this scalar head; here the backbone is an image encoder and the
    pairs come from :mod:`clkit.data.preferences`.

    Both images of every pair go through the backbone in one pass, so BatchNorm normalises chosen and rejected
    images with the same statistics (two passes would give each its own, and a reward could read which pass
    an image was in).

    Args:
        backbone: the encoder f, e.g. ``clkit.models.encoder("small_cnn")``.
        augment: an optional recipe drawn independently for every image of a pair; it must keep what the
            preferences depend on (a crop rescales a shape, colour jitter changes its brightness), so the
            default is none.

    Logs ``pair_acc``, the fraction of the batch's pairs whose chosen image scored higher, and ``reward_gap``,
    the mean r⁺ − r⁻.
    """

    def __init__(self, backbone: Encoder, augment: aug_lib.SimCLRAugment | None = None):
        super().__init__()
        self.backbone = backbone
        self.augment = augment
        self.head = nn.Linear(backbone.dim, 1)

    def reward(self, images: Tensor) -> Tensor:
        """r(x): images (N, C, H, W) uint8 or float in [0, 1] → (N,) rewards."""
        return self.head(self.backbone(to_float(images))).squeeze(1)

    def forward(self, batch: PreferencePairs) -> StepOutput:
        if not isinstance(batch, PreferencePairs):
            raise TypeError(f"RewardModel trains on PreferencePairs (clkit.data.preferences), got "
                            f"{type(batch).__name__}")
        images = torch.cat([batch.chosen_images, batch.rejected_images])  # (2N, C, H, W): one pass, one BN
        x = to_float(images)
        if self.augment is not None:
            x = self.augment(x)
        r_chosen, r_rejected = self.head(self.backbone(x)).squeeze(1).chunk(2)  # (N,) each
        loss = bradley_terry_loss(r_chosen, r_rejected)
        gap = (r_chosen - r_rejected).detach().float()
        return StepOutput(loss, {"pair_acc": (gap > 0).float().mean(), "reward_gap": gap.mean()})


@torch.no_grad()
def rewards(model: RewardModel, images: Tensor, batch_size: int = 512) -> Tensor:
    """r(x) of every image, batched, in eval mode on the model's device: (N, C, H, W) → (N,) float32 on the CPU."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        out = [model.reward(images[i : i + batch_size].to(device)).float().cpu()
               for i in range(0, len(images), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0)
