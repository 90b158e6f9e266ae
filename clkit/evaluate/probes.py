"""Probes: how well a cheap classifier reads the classes off frozen features.

- :func:`knn_accuracy`: the weighted kNN monitor of InstDisc and MoCo (cosine, τ = 0.1);
- :func:`linear_probe`: multinomial logistic regression on standardised features, its strength chosen on a
  validation split (:func:`choose_C`, :func:`validation_split`);
- :func:`few_shot`: nearest class mean from a handful of labelled examples per class;
- :func:`knn_monitor`: the kNN probe as a measure for ``fit(measures=[...])``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clkit.evaluate.features import features, shared_features
from clkit.evaluate.neighbours import nearest_neighbours


def _check_features(train_z: Tensor, train_y: Tensor, test_z: Tensor, test_y: Tensor) -> None:
    """Refuse what no probe can use: mismatched shapes, an empty bank or query set, labels that are not class indices.

    The label check reads the smallest label back to the host; every probe reads its labels anyway.
    """
    if train_z.ndim != 2 or test_z.ndim != 2 or train_z.shape[1] != test_z.shape[1]:
        raise ValueError(
            f"features must be (N, D) with the same D, got train {tuple(train_z.shape)} and test {tuple(test_z.shape)}"
        )
    for name, labels in (("train_y", train_y), ("test_y", test_y)):
        if labels.ndim != 1:
            raise ValueError(f"{name} must be 1-D, one class index per feature row, got shape {tuple(labels.shape)} "
                             "(y.flatten() turns a column of labels into one)")
    if len(train_z) != len(train_y) or len(test_z) != len(test_y):
        raise ValueError(
            f"one label per feature row: train has {len(train_z)} rows and {len(train_y)} labels, "
            f"test {len(test_z)} rows and {len(test_y)} labels"
        )
    if len(train_z) == 0:
        raise ValueError("the bank is empty (train_z has 0 rows): a probe needs labelled features to learn from")
    if len(test_z) == 0:
        raise ValueError("there are no queries (test_z has 0 rows): a probe needs features to classify")
    for name, labels in (("train_y", train_y), ("test_y", test_y)):
        if int(labels.min()) < 0:
            raise ValueError(f"{name} must hold class indices 0, 1, …, C − 1, got {int(labels.min())}")


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
        with torch.autocast(bank.device.type, enabled=False):  # float32 similarities, inside a bf16 run too
            sim, idx = (q @ bank.T).topk(k, dim=1)
        weight = torch.ones_like(sim) if temperature is None else (sim / temperature).exp()
        votes = torch.zeros(len(q), num_classes, device=bank.device)
        votes.scatter_add_(1, bank_y[idx], weight)
        pred = votes.argmax(dim=1).cpu()
        correct += (pred == test_y[start : start + chunk_size].long().cpu()).sum().item()
    return correct / len(test_z)


@torch.no_grad()
def neighbour_agreement(
    train_z: Tensor, train_y: Tensor, test_z: Tensor, test_y: Tensor, k: int = 10, chunk_size: int = 1024
) -> float:
    """The fraction of each test point's k most cosine-similar training points that share its class, averaged.

    Where kNN accuracy asks whether the majority is right, this asks how pure the neighbourhood
    is: 0.1 for 10 balanced classes scattered at random, 1 when every neighbour shares the class.

    Args:
        train_z: (N, D) bank features; train_y: (N,) labels. test_z: (M, D) queries; test_y: (M,) labels.
    Returns:
        the mean same-class fraction, in [0, 1].
    """
    _check_features(train_z, train_y, test_z, test_y)
    if not 1 <= k <= len(train_z):
        raise ValueError(f"k must be between 1 and the bank size {len(train_z)}, got {k}")
    found = nearest_neighbours(test_z, train_z, k=k, chunk_size=chunk_size).indices  # (M, k) exact cosine search
    return (train_y.long().cpu()[found] == test_y.long().cpu()[:, None]).float().mean().item()


#: The inverse L2 strengths a tuned linear probe chooses among (scikit-learn's ``C``), weakest last.
C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


def validation_split(labels: Tensor, fraction: float = 0.2, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A stratified split of a labelled set into the part a probe is fitted on and the part that tunes it.

    Each class gives ``max(1, round(fraction · n_c))`` of its ``n_c`` members, drawn with ``seed``, to
    validation and keeps the rest (at least one) for fitting.

    Returns:
        ``(fit_index, val_index)``, two sorted int64 index tensors that partition ``range(len(labels))``.
    Raises:
        ValueError: a class has fewer than 2 members (nothing left to validate on), or ``fraction`` is not in (0, 1).
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction is the share held out for validation and must be in (0, 1), got {fraction}")
    labels = labels.long().cpu()
    generator = torch.Generator().manual_seed(seed)
    fit, val = [], []
    for c in labels.unique():
        members = torch.nonzero(labels == c).flatten()
        if len(members) < 2:
            raise ValueError(f"class {int(c)} has {len(members)} labelled example(s): a validation split needs "
                             "at least 2 per class (one to fit, one to validate)")
        members = members[torch.randperm(len(members), generator=generator)]
        n_val = min(len(members) - 1, max(1, round(fraction * len(members))))
        val.append(members[:n_val])
        fit.append(members[n_val:])
    return torch.cat(fit).sort().values, torch.cat(val).sort().values


def _fit_logistic(x: Tensor, y: Tensor, num_classes: int, C: float, max_iter: int):
    """Standardise x with its own mean and std, then minimise ½‖W‖² + C Σ CE(W x + b, y) with L-BFGS."""
    x = x.double().cpu()
    mean, std = x.mean(0), x.std(0).nan_to_num(0.0).clamp_min(1e-8)  # std of one row is NaN: no scaling
    x = (x - mean) / std
    y = y.long().cpu()
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

    def accuracy(z: Tensor, labels: Tensor) -> float:
        with torch.no_grad():
            logits = ((z.double().cpu() - mean) / std) @ weight + bias
            return (logits.argmax(1) == labels.long().cpu()).double().mean().item()

    return accuracy


def choose_C(
    train_z: Tensor, train_y: Tensor, grid: tuple[float, ...] = C_GRID, fraction: float = 0.2, seed: int = 0,
    max_iter: int = 500,
) -> tuple[float, dict[float, float]]:
    """The probe's regularisation, chosen on a validation split of the training features.

    Fits one probe per ``C`` of ``grid`` on the fitting part of :func:`validation_split` and scores it
    on the validation part; the test set is never seen.

    Returns:
        ``(best_C, {C: validation accuracy})``; ties go to the smaller C (the stronger regularisation).
    """
    if not grid or any(c <= 0 for c in grid):
        raise ValueError(f"grid must hold positive C values, got {grid}")
    fit, val = validation_split(train_y, fraction, seed)
    num_classes = int(train_y.max()) + 1
    scores = {c: _fit_logistic(train_z[fit], train_y[fit], num_classes, c, max_iter)(train_z[val], train_y[val])
              for c in sorted(grid)}
    best = max(scores.values())
    return next(c for c in sorted(grid) if scores[c] == best), scores


def linear_probe(
    train_z: Tensor,
    train_y: Tensor,
    test_z: Tensor,
    test_y: Tensor,
    C: float | str = "auto",
    max_iter: int = 500,
    grid: tuple[float, ...] = C_GRID,
    seed: int = 0,
) -> float:
    r"""Accuracy of multinomial logistic regression trained on frozen, standardised features.

    Features are standardised with the training mean and std, then W, b minimise
    (the objective of scikit-learn's ``LogisticRegression(C=C)``, solved with L-BFGS)::

        ½‖W‖² + C Σ_i CE(W h_i + b, y_i)

    With ``C="auto"`` (the kit's one protocol) the strength is chosen by :func:`choose_C` on a
    stratified 20% validation split of the training features, then the probe is refitted on all of
    them; when a class has a single labelled example there is nothing to validate on, and C = 1.

    Args:
        train_z: (N, D), train_y: (N,), test_z: (M, D), test_y: (M,).
        C: inverse L2 strength (smaller is stronger regularisation), or ``"auto"``.
        grid, seed: the values ``"auto"`` chooses among and the seed of its validation split.
    Returns:
        test accuracy in [0, 1].
    """
    _check_features(train_z, train_y, test_z, test_y)
    if C == "auto":
        counts = torch.bincount(train_y.long().cpu())
        smallest = int(counts[counts > 0].min())
        C = choose_C(train_z, train_y, grid, seed=seed, max_iter=max_iter)[0] if smallest >= 2 else 1.0
    if isinstance(C, str) or C <= 0:
        raise ValueError(f"C is the inverse regularisation strength and must be > 0 or 'auto', got {C!r}")
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    return _fit_logistic(train_z, train_y, num_classes, float(C), max_iter)(test_z, test_y)


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
# measure tracked over training. Used by notebooks 06–08 (embedding geometry, the hypersphere, collapse).


def knn_monitor(bank: Any, queries: Any, k: int = 20, space: str = "h",
                shared: bool = False) -> Callable[[nn.Module], dict[str, float]]:
    """A measure for ``fit(measures=[...])``: kNN accuracy of ``queries`` against the labelled ``bank``.

    The features stay where the model runs and the neighbours are found there: on a GPU the monitor never
    moves features to the host, whose similarity product and top-k would take longer than an epoch of training.

    Args:
        bank, queries: records with labels (e.g. the training set and the test set).
        k: neighbours; space: ``"h"`` (backbone) or ``"z"`` (projection).
        shared: in a distributed run, each process embeds a share of the items and every process gets them all
            (:func:`~clkit.evaluate.features.shared_features`); every process must then call the measure at the
            same points, as ``fit``'s own monitor does. Off: each process embeds everything itself.
    Returns:
        a function ``method -> {"knn": accuracy}``.
    """

    def embed(method: nn.Module, records: Any) -> Tensor:
        if shared:
            return shared_features(method, records, space)
        return features(method, records, space, on_device=True)

    def measure(method: nn.Module) -> dict[str, float]:
        return {"knn": knn_accuracy(embed(method, bank), bank.labels, embed(method, queries), queries.labels, k=k)}

    return measure
