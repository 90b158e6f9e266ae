"""Measuring a representation on frozen features.

Self-supervised training never sees a label, so we judge the features it learned by
what a cheap classifier can read off them, the encoder frozen:

- :func:`knn_accuracy` — the weighted kNN monitor of InstDisc and MoCo (cosine, k = 200, τ = 0.1);
- :func:`linear_probe` — multinomial logistic regression on standardised features;
- :func:`few_shot` — nearest class mean from a handful of labelled examples per class;

and by the geometry of the embedding itself: :func:`alignment` and :func:`uniformity`
(Wang & Isola 2020), :func:`effective_rank` (RankMe, Garrido et al. 2023), and the
pretext task's own :func:`contrastive_accuracy`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clkit.augment import to_float


@torch.no_grad()
def embed(
    model: nn.Module,
    images: Tensor,
    batch_size: int = 512,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> Tensor:
    """Features of ``images`` from a frozen model, batched, under ``torch.no_grad``.

    ``model`` is a method (its ``embed`` gives the backbone features ``h``), an encoder, or
    any module taking float images in [0, 1]. The model runs in eval mode on ``device``
    (default: where its parameters are) and is put back in the mode it was in.

    Args:
        images: (N, C, H, W) uint8 or float in [0, 1].
    Returns:
        (N, D) float32 features on the CPU.
    """
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    forward = model.embed if hasattr(model, "embed") else model
    was_training = model.training
    model.eval()
    chunks = []
    starts = range(0, len(images), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="embed", unit="batch", leave=False)
    try:
        for start in starts:
            x = to_float(images[start : start + batch_size].to(device, non_blocking=True))
            chunks.append(forward(x).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(chunks) if chunks else torch.empty(0)


def raw_pixels(images: Tensor) -> Tensor:
    """The no-learning baseline: each image's pixels as one flat vector, (N, C, H, W) → (N, C·H·W) float in [0, 1]."""
    return to_float(images).flatten(1)


def _check_features(train_z: Tensor, train_y: Tensor, test_z: Tensor, test_y: Tensor) -> None:
    if train_z.ndim != 2 or test_z.ndim != 2 or train_z.shape[1] != test_z.shape[1]:
        raise ValueError(
            f"features must be (N, D) with the same D, got train {tuple(train_z.shape)} and test {tuple(test_z.shape)}"
        )
    if len(train_z) != len(train_y) or len(test_z) != len(test_y):
        raise ValueError(
            f"one label per feature row: train has {len(train_z)} rows and {len(train_y)} labels, "
            f"test {len(test_z)} rows and {len(test_y)} labels"
        )


@torch.no_grad()
def knn_accuracy(
    train_z: Tensor,
    train_y: Tensor,
    test_z: Tensor,
    test_y: Tensor,
    k: int = 200,
    temperature: float | None = 0.1,
    chunk_size: int = 1024,
) -> float:
    r"""Accuracy of a k-nearest-neighbour classifier on cosine similarity.

    Each test point takes its k most similar training points; neighbour j votes for its
    class with weight exp(s_j / τ) (InstDisc/MoCo's monitor), or 1 when ``temperature`` is
    None (a plain majority vote, ties to the smaller label). k is capped at the training size.

    Args:
        train_z: (N, D) features of the labelled bank; train_y: (N,) int labels.
        test_z: (M, D) features to classify; test_y: (M,) int labels.
    Returns:
        accuracy in [0, 1].
    """
    _check_features(train_z, train_y, test_z, test_y)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    k = min(k, len(train_z))
    bank = F.normalize(train_z.float(), dim=1)
    bank_y = train_y.long().to(bank.device)
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    correct = 0
    for start in range(0, len(test_z), chunk_size):
        q = F.normalize(test_z[start : start + chunk_size].float().to(bank.device), dim=1)
        sim, idx = (q @ bank.T).topk(k, dim=1)
        weight = torch.ones_like(sim) if temperature is None else (sim / temperature).exp()
        votes = torch.zeros(len(q), num_classes, device=bank.device)
        votes.scatter_add_(1, bank_y[idx], weight)
        pred = votes.argmax(dim=1).cpu()
        correct += (pred == test_y[start : start + chunk_size].long().cpu()).sum().item()
    return correct / len(test_z)


def linear_probe(
    train_z: Tensor,
    train_y: Tensor,
    test_z: Tensor,
    test_y: Tensor,
    C: float = 1.0,
    max_iter: int = 500,
) -> float:
    r"""Accuracy of multinomial logistic regression trained on frozen features.

    Features are standardised with the training mean and std, then W, b minimise
    (the objective of scikit-learn's ``LogisticRegression(C=C)``, solved with L-BFGS)::

        ½‖W‖² + C Σ_i CE(W h_i + b, y_i)

    Args:
        train_z: (N, D), train_y: (N,), test_z: (M, D), test_y: (M,).
        C: inverse L2 strength; smaller is stronger regularisation.
    Returns:
        test accuracy in [0, 1].
    """
    _check_features(train_z, train_y, test_z, test_y)
    if C <= 0:
        raise ValueError(f"C is the inverse regularisation strength and must be > 0, got {C}")
    x = train_z.double().cpu()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-8)
    x = (x - mean) / std
    y = train_y.long().cpu()
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    weight = torch.zeros(x.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias], max_iter=max_iter, tolerance_grad=1e-6, tolerance_change=1e-10, line_search_fn="strong_wolfe"
    )

    def objective() -> Tensor:
        optimizer.zero_grad()
        # Divide the sklearn objective by C·N so the numbers stay O(1) for L-BFGS.
        loss = F.cross_entropy(x @ weight + bias, y) + (weight**2).sum() / (2 * C * len(x))
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(objective)
    with torch.no_grad():
        logits = ((test_z.double().cpu() - mean) / std) @ weight + bias
        return (logits.argmax(1) == test_y.long().cpu()).double().mean().item()


@torch.no_grad()
def few_shot(
    train_z: Tensor,
    train_y: Tensor,
    test_z: Tensor,
    test_y: Tensor,
    shots: int = 5,
    trials: int = 20,
    seed: int = 0,
) -> float:
    """Nearest-class-mean accuracy from ``shots`` labelled examples per class, averaged over trials.

    Each trial draws ``shots`` training examples of every class, averages their normalised
    features into a class prototype, and labels each test point by its most cosine-similar
    prototype (the prototypical-network classifier without training).

    Returns:
        mean test accuracy over ``trials`` random draws, in [0, 1].
    """
    _check_features(train_z, train_y, test_z, test_y)
    classes = train_y.unique()
    smallest = min(int((train_y == c).sum()) for c in classes)
    if not 1 <= shots <= smallest:
        raise ValueError(f"shots must be between 1 and {smallest} (the rarest class's count), got {shots}")
    generator = torch.Generator().manual_seed(seed)
    bank = F.normalize(train_z.float(), dim=1)
    queries = F.normalize(test_z.float(), dim=1)
    by_class = [torch.nonzero(train_y == c).flatten() for c in classes]
    accuracies = []
    for _ in range(trials):
        support = [members[torch.randperm(len(members), generator=generator)[:shots]] for members in by_class]
        prototypes = F.normalize(torch.stack([bank[s].mean(0) for s in support]), dim=1)
        pred = classes[(queries @ prototypes.T).argmax(1)]
        accuracies.append((pred == test_y).float().mean().item())
    return sum(accuracies) / len(accuracies)


def alignment(z1: Tensor, z2: Tensor, alpha: float = 2) -> Tensor:
    r"""Alignment of positive pairs (Wang & Isola 2020): E ‖f(x) − f(y)‖₂^α on normalised embeddings.

    0 when every pair coincides; 2 (for α = 2) when partners are unrelated points on the sphere.

    Args:
        z1, z2: (N, D) embeddings of the two views, row-aligned. They are ℓ2-normalised here.
    """
    if z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must have the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    a, b = F.normalize(z1.float(), dim=1), F.normalize(z2.float(), dim=1)
    return (a - b).norm(dim=1).pow(alpha).mean()


def uniformity(z: Tensor, t: float = 2) -> Tensor:
    r"""Uniformity (Wang & Isola 2020): log E_{i<j} exp(−t ‖z_i − z_j‖₂²) on normalised embeddings.

    0 for a fully collapsed set; more negative is more uniform (−3.94 for uniform points on
    S¹²⁷ with t = 2, −1.58 on the circle S¹).

    Args:
        z: (N, D) embeddings, N ≥ 2. They are ℓ2-normalised here.
    """
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"uniformity needs (N, D) embeddings with N ≥ 2, got {tuple(z.shape)}")
    x = F.normalize(z.float(), dim=1)
    sq_dist = torch.pdist(x).pow(2)
    return torch.logsumexp(-t * sq_dist, dim=0) - math.log(len(sq_dist))


def singular_values(z: Tensor, center: bool = True) -> Tensor:
    """Singular values of the (N, D) embedding matrix, largest first (centred by default)."""
    x = z.double()
    if center:
        x = x - x.mean(0)
    return torch.linalg.svdvals(x).float()


def effective_rank(z: Tensor, eps: float = 1e-7) -> float:
    r"""RankMe (Garrido et al. 2023): exp of the entropy of the normalised singular values.

    With σ the singular values of the (N, D) embedding matrix (not centred, as in RankMe)
    and p_k = σ_k / Σσ + ε, the effective rank is exp(−Σ p_k log p_k): D for a perfectly
    isotropic embedding, 1 when it lies on one line. Compare runs of the same method only.
    """
    sigma = singular_values(z, center=False).double()
    p = sigma / sigma.sum() + eps
    return float(torch.exp(-(p * p.log()).sum()))


@torch.no_grad()
def contrastive_accuracy(z1: Tensor, z2: Tensor) -> Tensor:
    """The pretext task's accuracy: the fraction of the 2N views whose most similar other view is their partner.

    Args:
        z1, z2: (N, D) embeddings of the two views, row-aligned.
    Returns:
        0-d tensor in [0, 1].
    """
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    sim = (z @ z.T).fill_diagonal_(float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return (sim.argmax(dim=1) == partner).float().mean()


def report(
    features: dict[str, tuple[Tensor, Tensor]],
    train_y: Tensor,
    test_y: Tensor,
    k: int = 20,
    shots: int = 5,
) -> dict[str, dict[str, float]]:
    """kNN, linear-probe and few-shot accuracy for several feature sets on the same split.

    Args:
        features: name → (train features (N, D), test features (M, D)), e.g. raw pixels,
            a random-init encoder, a trained encoder's h and z.
        train_y, test_y: (N,) and (M,) labels.
    Returns:
        name → {"knn": …, "linear": …, f"{shots}-shot": …}, accuracies in [0, 1].
    """
    return {
        name: {
            "knn": knn_accuracy(tr, train_y, te, test_y, k=k),
            "linear": linear_probe(tr, train_y, te, test_y),
            f"{shots}-shot": few_shot(tr, train_y, te, test_y, shots=shots),
        }
        for name, (tr, te) in features.items()
    }


def format_table(results: dict[str, dict[str, float]], percent: bool = True) -> str:
    """A plain-text table of :func:`report`'s results, one row per feature set."""
    columns = list(next(iter(results.values())))
    width = max(len(name) for name in results)
    cell = max(10, *(len(c) + 2 for c in columns))
    lines = [" " * width + "".join(f"{c:>{cell}}" for c in columns)]
    for name, row in results.items():
        cells = "".join(f"{100 * row[c]:>{cell - 1}.1f}%" if percent else f"{row[c]:>{cell}.3f}" for c in columns)
        lines.append(f"{name:<{width}}{cells}")
    return "\n".join(lines)


# --- geometry ---
# Neighbour search, the audit of the space (its closest and farthest pairs), the covariance
# spectrum and per-dimension spread behind the collapse dashboard, and the alignment/uniformity
# measure tracked over training. Used by notebook 05 (embedding geometry).

from collections.abc import Callable
from typing import NamedTuple


class Neighbours(NamedTuple):
    """Each query's k nearest bank points, most similar first.

    Attributes:
        indices: (M, k) int64, rows of the bank.
        similarities: (M, k) float32 cosine similarities, descending along each row.
    """

    indices: Tensor
    similarities: Tensor


@torch.no_grad()
def nearest_neighbours(
    queries: Tensor,
    bank: Tensor | None = None,
    k: int = 8,
    skip: Tensor | None = None,
    chunk_size: int = 1024,
) -> Neighbours:
    """The k most cosine-similar bank points of every query, exactly (a chunked matrix product).

    Args:
        queries: (M, D) features.
        bank: (N, D) features to search; ``None`` searches ``queries`` among themselves, each
            point leaving itself out (pass the same tensor as ``bank`` to keep it).
        k: neighbours per query, at most the number of candidates.
        skip: optional (M,) int bank rows, one per query, to leave out of its list: the query's
            own row when the queries are drawn from the bank.
    Returns:
        :class:`Neighbours` with (M, k) ``indices`` and ``similarities``.
    """
    if bank is None:
        bank, skip = queries, torch.arange(len(queries))
    if queries.ndim != 2 or bank.ndim != 2 or queries.shape[1] != bank.shape[1]:
        raise ValueError(
            f"queries and bank must be (M, D) and (N, D) with the same D, got {tuple(queries.shape)} "
            f"and {tuple(bank.shape)}"
        )
    if skip is not None and skip.shape != (len(queries),):
        raise ValueError(f"skip must hold one bank row per query, shape ({len(queries)},), got {tuple(skip.shape)}")
    candidates = len(bank) - int(skip is not None)
    if not 1 <= k <= candidates:
        raise ValueError(f"k must be between 1 and the number of candidates ({candidates}), got {k}")
    b = F.normalize(bank.float(), dim=1)
    indices, similarities = [], []
    for start in range(0, len(queries), chunk_size):
        q = F.normalize(queries[start : start + chunk_size].float().to(b.device), dim=1)
        sim = q @ b.T
        if skip is not None:
            rows = torch.arange(len(q), device=sim.device)
            sim[rows, skip[start : start + chunk_size].to(sim.device)] = float("-inf")
        s, i = sim.topk(k, dim=1)
        indices.append(i.cpu())
        similarities.append(s.cpu())
    return Neighbours(torch.cat(indices), torch.cat(similarities))


class Pairs(NamedTuple):
    """Pairs of points (i, j), i < j, with their cosine similarity, in the order they were asked for.

    Attributes:
        pairs: (K, 2) int64 row indices.
        similarities: (K,) float32 cosine similarities.
    """

    pairs: Tensor
    similarities: Tensor


@torch.no_grad()
def extreme_pairs(
    z: Tensor,
    labels: Tensor,
    k: int = 8,
    same_class: bool = False,
    most_similar: bool = True,
    chunk_size: int = 1024,
) -> Pairs:
    """The k most (or least) cosine-similar pairs among pairs of the same (or of different) classes.

    Every unordered pair i < j is considered once; the search runs over row chunks, so the
    N × N similarity matrix is never held whole. Fewer than k pairs come back when fewer exist.

    Args:
        z: (N, D) features; labels: (N,) int class labels.
        same_class: pairs within a class (True) or across classes (False).
        most_similar: the highest similarities first (True) or the lowest first (False).
    Returns:
        :class:`Pairs`, sorted from the most extreme pair.
    """
    if z.ndim != 2 or len(z) != len(labels):
        raise ValueError(f"z must be (N, D) with one label per row, got {tuple(z.shape)} and {len(labels)} labels")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    x = F.normalize(z.float(), dim=1)
    y = labels.to(x.device)
    sign = 1.0 if most_similar else -1.0
    best_scores, best_pairs = [], []
    columns = torch.arange(len(x), device=x.device)
    for start in range(0, len(x), chunk_size):
        rows = columns[start : start + chunk_size]
        score = sign * (x[rows] @ x.T)
        valid = (columns[None, :] > rows[:, None]) & ((y[rows][:, None] == y[None, :]) == same_class)
        score = score.masked_fill(~valid, float("-inf"))
        top, flat = score.flatten().topk(min(k, score.numel()))
        keep = top > float("-inf")
        best_scores.append(top[keep])
        best_pairs.append(torch.stack([rows[flat[keep] // len(x)], flat[keep] % len(x)], dim=1))
    scores, pairs = torch.cat(best_scores), torch.cat(best_pairs)
    order = scores.argsort(descending=True)[:k]
    return Pairs(pairs[order].cpu(), (sign * scores[order]).cpu())


def cross_class_pairs(z: Tensor, labels: Tensor, k: int = 8) -> Pairs:
    """The k most similar pairs of points from different classes: candidate false negatives.

    A contrastive loss pushes every other image away, including the ones that look alike; the
    pairs it failed to push apart are where the space disagrees with the labels (or the labels
    with the images). (N, D) features, (N,) labels → :class:`Pairs`, most similar first.
    """
    return extreme_pairs(z, labels, k, same_class=False, most_similar=True)


def within_class_pairs(z: Tensor, labels: Tensor, k: int = 8) -> Pairs:
    """The k least similar pairs of points from the same class: what the space splits apart.

    (N, D) features, (N,) labels → :class:`Pairs`, least similar first.
    """
    return extreme_pairs(z, labels, k, same_class=True, most_similar=False)


def covariance_spectrum(z: Tensor, normalize: bool = True) -> Tensor:
    r"""Eigenvalues of the embeddings' covariance matrix, largest first (Jing et al. 2022's collapse plot).

    With X the centred (N, D) matrix of embeddings (ℓ2-normalised first when ``normalize``), the
    covariance C = XᵀX / (N − 1) has eigenvalues λ_k = σ_k² / (N − 1), σ the singular values of X.
    Dimensional collapse shows as a tail of λ_k near zero; after normalisation Σλ_k = 1 − ‖mean‖² ≤ 1,
    so spectra of different runs share one scale.

    Returns:
        (min(N, D),) float32.
    """
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"the covariance needs (N, D) embeddings with N ≥ 2, got {tuple(z.shape)}")
    x = F.normalize(z.double(), dim=1) if normalize else z.double()
    return (singular_values(x).double() ** 2 / (len(x) - 1)).float()


def per_dimension_std(z: Tensor) -> Tensor:
    """Standard deviation of each dimension of the ℓ2-normalised embeddings, (N, D) → (D,).

    Isotropic embeddings give about 1/√D in every dimension; a collapsed output gives 0
    (SimSiam, Chen & He 2021, watch this to catch collapse).
    """
    return F.normalize(z.float(), dim=1).std(dim=0)


def collapse_metrics(h: Tensor, z: Tensor) -> dict[str, float]:
    """Numbers of the collapse dashboard for backbone features h (N, D_h) and projections z (N, D_z).

    Returns:
        ``rankme_h``, ``rankme_z``: :func:`effective_rank` (1 … D); ``std_z·√D``: the mean of
        :func:`per_dimension_std` of z times √D_z (about 1 when z spreads over the sphere, 0 when
        collapsed); ``uniform_z``: :func:`uniformity` of z.
    """
    return {
        "rankme_h": effective_rank(h),
        "rankme_z": effective_rank(z),
        "std_z·√D": float(per_dimension_std(z).mean()) * math.sqrt(z.shape[1]),
        "uniform_z": float(uniformity(z)),
    }


class _Projection(nn.Module):
    """Wraps a method so that :func:`embed` runs its ``project`` (h → z) instead of its ``embed``."""

    def __init__(self, method: nn.Module):
        super().__init__()
        self.method = method
        self.training = method.training  # so embed() puts the method back in the mode it found it in

    def forward(self, x: Tensor) -> Tensor:
        return self.method.project(x)


def project(
    method: nn.Module,
    images: Tensor,
    batch_size: int = 512,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> Tensor:
    """Embeddings z = g(f(x)) after the projection head, as :func:`embed` gives h: batched, no_grad, eval mode.

    Args:
        method: anything with ``project(images)``, e.g. :class:`clkit.methods.SimCLR`.
        images: (N, C, H, W) uint8 or float in [0, 1].
    Returns:
        (N, projection_dim) float32 on the CPU.
    """
    if not hasattr(method, "project"):
        raise TypeError(f"{type(method).__name__} has no projection head (no .project); use embed() for h")
    return embed(_Projection(method), images, batch_size=batch_size, device=device, progress=progress)


def view_geometry(
    images: Tensor,
    augment: Callable[..., Tensor],
    space: str = "z",
    seed: int = 0,
    batch_size: int = 512,
) -> Callable[[nn.Module], dict[str, float]]:
    r"""A measure for ``fit(measures=[...])``: alignment and uniformity (Wang & Isola 2020) on fixed views.

    Two views of every image are drawn once, from ``seed``, so each call measures the same pairs::

        alignment  = E ‖f(v1) − f(v2)‖²                      (α = 2; 0 = aligned, 2 = unrelated)
        uniformity = log E_{i<j} exp(−2 ‖f(x_i) − f(x_j)‖²)    (t = 2; averaged over the two views,
                                                               as in Wang & Isola's own training loss)

    and the pretext task's accuracy on the same pairs, :func:`contrastive_accuracy` (it depends on
    the number of images: an anchor picks its partner out of 2N − 1 candidates)

    on ℓ2-normalised f = the projection z (``space="z"``, what the loss sees) or the backbone
    features h (``space="h"``).

    Args:
        images: (N, C, H, W) uint8 images (a few hundred is plenty).
        augment: the view recipe, e.g. ``method.augment``.
    Returns:
        a function ``method -> {"alignment": float, "uniformity": float, "contrastive_acc": float}``.
    """
    from clkit.augment import two_views

    if space not in ("z", "h"):
        raise ValueError(f"space must be 'z' (after the head) or 'h' (the backbone), got {space!r}")
    v1, v2 = two_views(images, augment, generator=torch.Generator().manual_seed(seed))
    features = project if space == "z" else embed

    def measure(method: nn.Module) -> dict[str, float]:
        a, b = features(method, v1, batch_size=batch_size), features(method, v2, batch_size=batch_size)
        return {"alignment": float(alignment(a, b)), "uniformity": float((uniformity(a) + uniformity(b)) / 2),
                "contrastive_acc": float(contrastive_accuracy(a, b))}

    return measure


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, images: Tensor, batch_size: int = 256) -> nn.Module:
    """Estimate every BatchNorm layer's running statistics from ``images``, without training; in place.

    An untrained network in eval mode normalises with BatchNorm's initial statistics (mean 0,
    variance 1), which fit no real activations: its outputs shrink to almost the same vector for
    every image, through the head's bias. For a fair random-init baseline we first let the layers
    see the data: forward passes in train mode, no gradients, running statistics averaged over
    all batches (momentum None). Weights are untouched; the model's mode and momenta are restored.

    Args:
        model: a method (the pass goes through ``project`` when it has one, else ``embed``) or a module.
        images: (N, C, H, W) uint8 or float in [0, 1].
    Returns:
        the model.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
    forward = getattr(model, "project", None) or getattr(model, "embed", None) or model
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    was_training = model.training
    model.train()
    try:
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            if len(chunk) > 1:  # BatchNorm cannot take statistics of a single sample
                forward(to_float(chunk.to(device)))
    finally:
        model.train(was_training)
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
    return model


def geometry_report(
    models: dict[str, nn.Module],
    images: Tensor,
    labels: Tensor,
    bank_images: Tensor,
    bank_labels: Tensor,
    measure: Callable[[nn.Module], dict[str, float]] | None = None,
    k: int = 20,
) -> dict[str, dict[str, float]]:
    """One row of numbers per model: how well its features classify, and the shape of its space.

    Each row holds ``knn`` (:func:`knn_accuracy` of h, ``images`` against the labelled
    ``bank_images``, k neighbours), what ``measure`` returns (e.g. :func:`view_geometry`'s
    alignment and uniformity) and :func:`collapse_metrics` of h and z on ``images`` (z = h for a
    model without a projection head). Print it with :func:`format_table` (``percent=False``).

    Args:
        models: name → method or encoder.
        images: (N, C, H, W) held-out images; labels: (N,).
        bank_images: (M, C, H, W) labelled images for the kNN classifier; bank_labels: (M,).
    """
    rows = {}
    for name, model in models.items():
        h = embed(model, images)
        z = project(model, images) if hasattr(model, "project") else h
        row = {"knn": knn_accuracy(embed(model, bank_images), bank_labels, h, labels, k=k)}
        if measure is not None:
            row.update(measure(model))
        row.update(collapse_metrics(h, z))
        rows[name] = row
    return rows
