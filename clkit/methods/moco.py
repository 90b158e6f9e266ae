"""MoCo: each query must find its key, from a momentum copy, among a queue of past keys (v2) or the batch's (v3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from clkit.data import Batch
from clkit.losses import check_temperature, pretext_accuracy
from clkit.losses.moco import moco_logits
from clkit.methods.base import JointEmbedding, StepOutput
from clkit.models import Encoder, NegativeQueue, ProjectionHead, cosine_momentum, ema_update_, momentum_copy

MOMENTUM_SCHEDULES = ("constant", "cosine")
#: MoCo's BatchNorm groups: 8 GPUs of 32 images each at batch 256 (He et al. 2020, section 4).
MOCO_BN_SPLITS = 8
#: The fewest images a BatchNorm group gets when the splits are chosen for you: below about 16 images,
#: BatchNorm's batch statistics grow noisy enough to cost accuracy (Wu & He 2018, arXiv:1803.08494, fig. 1).
MIN_SPLIT = 16


def split_batch_norm(network: Callable[[Tensor], Tensor], x: Tensor, splits: int, shuffle: bool = False) -> Tensor:
    """``network`` on ``splits`` slices of ``x``, so each slice has its own BatchNorm statistics; rows in ``x``'s order.

    This is what training on ``splits`` GPUs does to BatchNorm, on one device. With ``shuffle`` the rows are
    dealt into the slices in a random order first (MoCo's shuffling BN for the keys), and put back after.
    Layers other than BatchNorm treat every row alone, so only the statistics depend on the slicing.
    """
    if splits == 1:
        return network(x)
    if not shuffle:
        return torch.cat([network(part) for part in x.tensor_split(splits)])
    order = torch.randperm(len(x), device=x.device)
    out = torch.cat([network(part) for part in x[order].tensor_split(splits)])
    return out[order.argsort()]


class MoCo(JointEmbedding):
    r"""MoCo v2 (He et al. 2020, arXiv:1911.05722; Chen et al. 2020, arXiv:2003.04297), and v3's symmetric,
    in-batch form (Chen, Xie & He 2021, arXiv:2104.02057).

    A query q = g(f(v1)) from the network trained by gradient descent must find its key k = g'(f'(v2)), the
    other view through a momentum copy of the network (no gradient), among K negatives n_j (eq. 1)::

        ℓ = −log  exp(qᵀk / τ) / (exp(qᵀk / τ) + Σ_j exp(qᵀn_j / τ))          (q, k, n unit length)
        θ' ← m θ' + (1 − m) θ                                                   after every optimiser step

    The negatives are a queue of the last K keys (v1, v2), whatever the batch size; or, with
    ``queue_size=0``, the other keys of the batch (v3). The momentum copy keeps the queue's keys, encoded
    over the last K / N steps, consistent with each other.

    When the keys join the queue: after the optimiser step (Algorithm 1 enqueues after the update). The
    keys computed in :meth:`forward` are kept and pushed by :meth:`after_optimizer_step`, so this step's
    loss sees the queue without them, and a forward that no step follows (an evaluation, a look in a
    notebook) leaves the queue as it was.

    BatchNorm on one device. MoCo found that BatchNorm lets the network cheat (section 3.3): the query and
    its key are normalised with statistics of the same images (the batch, in two views), while every queued
    negative was normalised with another batch's, so the positive can be picked out by a trace of the
    batch's statistics instead of by what the image shows. Computing queries and keys in two separate
    passes, as here, does not help: the statistics are correlated through the images, not through the
    pass. MoCo's fix is to shuffle the keys across its 8 GPUs, each with its own statistics, so that a
    query and its key are normalised over different subsets. We do the same on one device
    (:func:`split_batch_norm`): queries in ``bn_splits`` slices in order, keys in as many slices after a
    random shuffle; the authors' own one-GPU CIFAR-10 demo simulates 8 GPUs the same way, and reports
    4 points of kNN accuracy lost without it. A query still shares about 1/splits of its slice's images
    with its key's slice, as on MoCo's GPUs. In-batch negatives (v3) have no such leak: the positive and
    every negative come from the same key pass, so a batch signature is common to all candidates and
    cancels in the softmax; v3 uses one set of statistics (SyncBN), and so do we by default.

    The symmetric loss (``symmetric=True``) uses each view once as the query and once as the key, and
    averages: loss = [ctr(q1, k2) + ctr(q2, k1)] / 2. v3 writes the sum and scales each term by 2τ (its
    code), i.e. 4τ times ours. We keep the mean so the loss reads on the same scale as v2's, and its
    collapsed value, log(K + 1), stays the same for both forms and every τ; with AdamW, a constant factor
    on the loss changes nothing (the update is normalised), with SGD multiply the learning rate by 4τ to
    match v3. Both keys join one queue (as in the MoCo authors' demo), so it must hold 2N keys per step.

    Args:
        backbone: the encoder f, e.g. ``clkit.models.encoder("small_cnn")``.
        augment: the view recipe, or a list of two (v3 uses BYOL's asymmetric pair, :func:`clkit.augment.byol`).
        temperature: τ > 0 (v2: 0.2; v3: 1.0 for ResNets, 0.2 for ViTs).
        queue_size: K, the negatives; 0 for the batch's other keys instead (v3). It must hold one step's
            keys, and should stay well below the dataset: a queue longer than an epoch holds an earlier key of
            the query's own image, as a negative. MoCo: 65,536 of 1.28M images (5%); here 4,096 (the
            authors' CIFAR-10 demo, where accuracy saturates at 4,096), 40% of a 10,000-image epoch.
        momentum: m, how slowly the key encoder follows (0 copies the query encoder, 1 freezes it). The key
            encoder averages the last ~1 / (1 − m) steps: MoCo's 0.999 (1,000 steps) is right for 1M steps of
            ImageNet, but a laptop run of a few hundred steps would barely move it from its random weights.
            We default to 0.99 (100 steps), as the authors' CIFAR-10 demo does; MoCo's ablation found every m
            from 0.99 to 0.9999 works well, and 0.9 much worse.
        momentum_schedule: ``"constant"`` (v1, v2) or ``"cosine"``, m rising from ``momentum`` to 1 over
            training (v3, as BYOL; :func:`~clkit.models.cosine_momentum`).
        symmetric: both views as queries (v3, and the authors' demo), averaged as above.
        predictor: a two-layer MLP with BatchNorm after the query's head (v3), absent on the key side.
        bn_splits: BatchNorm groups (see above). None: with a queue, MoCo's 8, fewer when the batch has
            under 128 images (each group keeps at least 16), none below 32; without a queue, 1. An explicit
            value is used as given (each group needs 2 images or more).
        head: the head's settings (``projection_dim``, ``hidden_dim``, ``head_layers``, ...). MoCo v2's head
            has no BatchNorm, so ``hidden_bn`` defaults to False; v3 puts BatchNorm in every layer of it
            (``hidden_bn=True, out_bn=True``).

    v3 (ResNet) is ``MoCo(f, byol(32), temperature=1.0, queue_size=0, symmetric=True, predictor=True,
    momentum_schedule="cosine", hidden_bn=True, out_bn=True)``.
    """

    def __init__(
        self,
        backbone: Encoder,
        augment: Any,
        *,
        temperature: float = 0.2,
        queue_size: int = 4096,
        momentum: float = 0.99,
        momentum_schedule: str = "constant",
        symmetric: bool = False,
        predictor: bool = False,
        bn_splits: int | None = None,
        **head: Any,
    ):
        head.setdefault("hidden_bn", False)
        super().__init__(backbone, augment, **head)
        if len(self.recipes) != 2:
            raise ValueError(f"MoCo contrasts two views (a query and a key), got {len(self.recipes)} recipes")
        check_temperature(temperature)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1] (MoCo: 0.999, short runs: 0.99), got {momentum}")
        if momentum_schedule not in MOMENTUM_SCHEDULES:
            raise ValueError(f"momentum_schedule must be one of {', '.join(MOMENTUM_SCHEDULES)}, "
                             f"got {momentum_schedule!r}")
        if queue_size < 0:
            raise ValueError(f"queue_size is the number of queued negatives, >= 0 (0: the batch's keys), "
                             f"got {queue_size}")
        if bn_splits is not None and bn_splits < 1:
            raise ValueError(f"bn_splits must be 1 (one set of BatchNorm statistics) or more, got {bn_splits}")
        self.temperature, self.momentum, self.momentum_schedule = temperature, momentum, momentum_schedule
        self.symmetric, self.bn_splits = symmetric, bn_splits
        width = self.head.out_dim
        # v3's predictor: Linear → BN → ReLU → Linear, at the head's hidden width.
        self.predictor = ProjectionHead(width, width, head.get("hidden_dim") or backbone.dim) if predictor else None
        self.key_backbone = momentum_copy(backbone)
        self.key_head = momentum_copy(self.head)
        self.queue = NegativeQueue(queue_size, width) if queue_size else None
        # The m of the latest update, for the logs; derived from progress, so not saved.
        self.register_buffer("current_momentum", torch.tensor(float(momentum)), persistent=False)
        self.pending_keys: Tensor | None = None  # this step's keys, pushed onto the queue after the optimiser step

    def momentum_at(self, progress: float) -> float:
        """m after the step that ends at ``progress`` (0 → 1): ``momentum``, or the cosine from it to 1."""
        if self.momentum_schedule == "cosine":
            return cosine_momentum(progress, base=self.momentum, final=1.0)
        return self.momentum

    @property
    def global_batchnorm(self) -> bool:
        """Whether BatchNorm spans every process when several train (read by :func:`clkit.train.fit`): with one
        group of statistics, as v3's SyncBN; split groups stay within each process, where they play the part of
        the shuffle across GPUs."""
        return self.bn_splits == 1 or (self.bn_splits is None and self.queue is None)

    def splits(self, batch_size: int) -> int:
        """How many BatchNorm groups a batch of ``batch_size`` images is computed in (see ``bn_splits``)."""
        if self.bn_splits is None:
            return 1 if self.queue is None else max(1, min(MOCO_BN_SPLITS, batch_size // MIN_SPLIT))
        if batch_size < 2 * self.bn_splits:
            raise ValueError(f"a batch of {batch_size} images cannot be split into bn_splits={self.bn_splits} "
                             f"BatchNorm groups of 2 or more; use bn_splits <= {max(1, batch_size // 2)}")
        return self.bn_splits

    def queries(self, views: Tensor, splits: int = 1) -> Tensor:
        """q for a batch of views: head (and predictor) on the backbone, in ``splits`` BatchNorm groups."""
        def network(x: Tensor) -> Tensor:
            z = self.head(self.backbone(x))
            return z if self.predictor is None else self.predictor(z)

        return split_batch_norm(network, views, splits)

    @torch.no_grad()
    def keys(self, views: Tensor, splits: int = 1) -> Tensor:
        """k for a batch of views: the momentum copies, in ``splits`` BatchNorm groups over shuffled rows."""
        return split_batch_norm(lambda x: self.key_head(self.key_backbone(x)), views, splits, shuffle=splits > 1)

    def collapsed_loss(self, batch_size: int) -> float | None:
        """None: log(1 + K) is the loss of a collapsed MoCo, but no reliable sign of one.

        When every view maps to one point, the key and all K negatives score alike and the loss is log(1 + K)
        (:func:`~clkit.losses.moco.collapsed_info_nce`; K = N − 1 in-batch). A healthy run sits near it too,
        for longer than the first epoch the training loop leaves out: the key encoder averages the last
        ~1 / (1 − m) steps (100 at m = 0.99), so for that long the keys are a near-random network's, which
        barely tell images apart; and the queue's random initial keys, easy negatives, make the first steps'
        loss low, then it climbs towards log(1 + K) as real keys replace them. Measured on shapes (small CNN,
        2,048 images, batch 128, K = 1,024, 16 steps an epoch, lr 2·10⁻³): epoch 1 at 6.24, epoch 2 at 6.77,
        2.3% below log(1,025) = 6.93 and inside the loop's 2.5% band, with a pretext accuracy 16 times chance.
        """
        return None

    def forward(self, batch: Batch) -> StepOutput:
        v1, v2 = self.views(batch)
        splits = self.splits(len(v1))
        pairs = [(v1, v2), (v2, v1)] if self.symmetric else [(v1, v2)]  # (query view, key view)
        queries = [self.queries(a, splits) for a, _ in pairs]
        keys = [self.keys(b, splits) for _, b in pairs]
        queue = None
        if self.queue is not None:
            self.pending_keys = torch.cat([k if self.gather is None else self.gather(k) for k in keys])
            if len(self.pending_keys) > len(self.queue):
                raise ValueError(
                    f"queue_size={len(self.queue)} cannot hold one step's {len(self.pending_keys)} keys "
                    f"({len(v1)} images{' × 2 views (symmetric)' if self.symmetric else ''}"
                    f"{', every process' if self.gather is not None else ''}); make the queue at least that long"
                )
            queue = self.queue.keys
        logits = [moco_logits(q, k, queue, self.temperature, self.gather) for q, k in zip(queries, keys)]
        terms = [F.cross_entropy(*x) for x in logits]
        logs = {"contrastive_acc": torch.stack([pretext_accuracy(x) for x in logits]).mean(),
                "momentum": self.current_momentum.clone()}
        if self.symmetric:
            logs.update(loss_12=terms[0].detach(), loss_21=terms[1].detach())
        return StepOutput(sum(terms) / len(terms), logs)

    @torch.no_grad()
    def after_optimizer_step(self, progress: float) -> None:
        """The key encoder follows the query encoder (θ' ← m θ' + (1 − m) θ); this step's keys join the queue."""
        m = self.momentum_at(progress)
        ema_update_(self.key_backbone, self.backbone, m)
        ema_update_(self.key_head, self.head, m)
        self.current_momentum.fill_(m)
        if self.queue is not None and self.pending_keys is not None:
            self.queue.push(self.pending_keys)
        self.pending_keys = None
