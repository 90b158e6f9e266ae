"""Image–text evaluation: zero-shot classification by prompts, and retrieval recall in both directions.

Both read embeddings in the space an image–text model shares between its two encoders (CLIP's u and v):

- :func:`prompt_embeddings` turns class names into classifier weights by writing each into prompt
  templates ("a picture of a {}") and encoding them, averaged over templates as CLIP does;
- :func:`zero_shot_predict` and :func:`zero_shot_accuracy` classify images by their most similar class prompt;
- :func:`retrieval_recall` asks, for each image, whether a caption describing it is among the k captions
  most similar to it (image → text), and for each caption, whether an image it describes is among its k most
  similar images (text → image).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clkit.evaluate.features import features

__all__ = ["DIRECTIONS", "prompt_embeddings", "random_recall", "retrieval_recall", "zero_shot_accuracy",
           "zero_shot_predict"]

#: The two retrieval directions, named as :func:`retrieval_recall` returns them.
DIRECTIONS = ("image → text", "text → image")


def prompt_embeddings(text_model: nn.Module, tokenizer, classes: Sequence[str], templates: Sequence[str],
                      length: int | None = None) -> Tensor:
    r"""Zero-shot classifier weights: each class name written into every template, encoded, averaged.

    For class c and templates T_1 … T_K (each with one ``{}`` for the name), as in CLIP's prompt ensembling::

        w_c = normalise( (1/K) Σ_k normalise( v(T_k(c)) ) )

    where v is the text model's embedding in the shared space (its ``project``). One template (K = 1) is a
    single prompt.

    Args:
        text_model: a model whose ``project(tokens)`` gives text embeddings (e.g. ``CLIP.text``).
        tokenizer: a :class:`clkit.data.Tokenizer`; words it does not hold become [UNK].
        classes: C class names.
        templates: K prompt templates, e.g. ``["a picture of a {}", "there is a {}"]``.
        length: token row length; None: the longest prompt's.
    Returns:
        (C, D) float32, unit rows.
    """
    if not classes or not templates:
        raise ValueError(f"need at least one class and one template, got {len(classes)} and {len(templates)}")
    unformatted = [t for t in templates if "{}" not in t]
    if unformatted:
        raise ValueError(f"every template needs a {{}} where the class name goes, e.g. 'a picture of a {{}}'; "
                         f"got {unformatted}")
    prompts = [t.format(c) for t in templates for c in classes]  # template-major: K blocks of C prompts
    tokens = tokenizer.encode(prompts, length=length)
    v = F.normalize(features(text_model, tokens, space="z"), dim=1)  # (K·C, D)
    return F.normalize(v.view(len(templates), len(classes), -1).mean(0), dim=1)  # (C, D)


def zero_shot_predict(image_z: Tensor, class_z: Tensor) -> Tensor:
    """Each image's class: the index of its most cosine-similar class embedding. (N, D), (C, D) → (N,) int64."""
    if image_z.ndim != 2 or class_z.ndim != 2 or image_z.shape[1] != class_z.shape[1]:
        raise ValueError(f"image_z (N, D) and class_z (C, D) must share D, got {tuple(image_z.shape)} and "
                         f"{tuple(class_z.shape)}")
    return (F.normalize(image_z.float(), dim=1) @ F.normalize(class_z.float(), dim=1).T).argmax(dim=1)


def zero_shot_accuracy(image_z: Tensor, labels: Tensor, class_z: Tensor) -> float:
    """The fraction of images whose most similar class embedding is their label's: (N, D), (N,), (C, D)."""
    if labels.shape != (len(image_z),):
        raise ValueError(f"labels must be (N,) = ({len(image_z)},), one class index per image, "
                         f"got {tuple(labels.shape)}")
    return (zero_shot_predict(image_z, class_z) == labels.to(image_z.device)).double().mean().item()


@torch.no_grad()
def retrieval_recall(image_z: Tensor, text_z: Tensor, ks: Sequence[int] = (1, 5, 10),
                     matches: Tensor | None = None) -> dict[str, dict[int, float]]:
    r"""Recall@k of retrieval both ways, on cosine similarity.

    Image i's query succeeds at k when one of the k captions most similar to it describes it,
    ``matches[i, j]``; caption j's query succeeds when one of its k most similar images is one it describes::

        R@k(image → text) = (1/N_img) Σ_i  1[ ∃ j ∈ top_k(S[i, :]) : matches[i, j] ]
        R@k(text → image) = (1/N_txt) Σ_j  1[ ∃ i ∈ top_k(S[:, j]) : matches[i, j] ]

    Args:
        image_z: (N_img, D) image embeddings.
        text_z: (N_txt, D) caption embeddings.
        ks: the k to report, each between 1 and the size of the set searched.
        matches: (N_img, N_txt) bool, which caption describes which image; None: the i-th caption describes the
            i-th image only (N_img = N_txt). With generated captions many images share a caption, and each of
            them is a right answer (e.g. :meth:`clkit.data.CaptionSet.matches`).
    Returns:
        ``{"image → text": {k: recall}, "text → image": {k: recall}}``.
    """
    if image_z.ndim != 2 or text_z.ndim != 2 or image_z.shape[1] != text_z.shape[1]:
        raise ValueError(f"image_z (N_img, D) and text_z (N_txt, D) must share D, got {tuple(image_z.shape)} and "
                         f"{tuple(text_z.shape)}")
    n_img, n_txt = len(image_z), len(text_z)
    if matches is None:
        if n_img != n_txt:
            raise ValueError(f"without matches the i-th caption describes the i-th image, so the counts must agree; "
                             f"got {n_img} images and {n_txt} captions: pass matches (N_img, N_txt)")
        matches = torch.eye(n_img, dtype=torch.bool)
    if matches.shape != (n_img, n_txt) or matches.dtype != torch.bool:
        raise ValueError(f"matches must be ({n_img}, {n_txt}) bool, got {tuple(matches.shape)} {matches.dtype}")
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1 or max(ks) > min(n_img, n_txt):
        raise ValueError(f"each k must be between 1 and {min(n_img, n_txt)} (the smaller set searched), got {ks}")
    similarity = F.normalize(image_z.float(), dim=1) @ F.normalize(text_z.float(), dim=1).T  # (N_img, N_txt)
    matches = matches.to(similarity.device)
    out = {}
    for direction, s, m in zip(DIRECTIONS, (similarity, similarity.T), (matches, matches.T)):
        top = s.topk(max(ks), dim=1).indices  # (queries, k_max), most similar first
        hit = m.gather(1, top).int().cummax(dim=1).values  # hit[q, r]: a right answer within the first r + 1
        out[direction] = {k: hit[:, k - 1].double().mean().item() for k in ks}
    return out


def random_recall(matches: Tensor, ks: Sequence[int] = (1, 5, 10)) -> dict[str, dict[int, float]]:
    r"""The expected recall@k of a random ranking, both ways: the chance level of :func:`retrieval_recall`.

    A query with m right answers among M candidates, ranked at random, finds none in its first k with
    probability C(M − m, k) / C(M, k)::

        P(hit within k) = 1 − Π_{t=0}^{k−1} (M − m − t) / (M − t)

    averaged over the queries of each direction.

    Args:
        matches: (N_img, N_txt) bool, as for :func:`retrieval_recall`.
        ks: the k to report, each between 1 and the size of the set searched.
    Returns:
        ``{"image → text": {k: recall}, "text → image": {k: recall}}``.
    """
    if matches.ndim != 2 or matches.dtype != torch.bool:
        raise ValueError(f"matches must be (N_img, N_txt) bool, got {tuple(matches.shape)} {matches.dtype}")
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1 or max(ks) > min(matches.shape):
        raise ValueError(f"each k must be between 1 and {min(matches.shape)} (the smaller set searched), got {ks}")
    out = {}
    for direction, m in zip(DIRECTIONS, (matches, matches.T)):
        right = m.sum(1).double()  # (queries,) m for each query
        total = m.shape[1]
        t = torch.arange(max(ks), dtype=torch.float64)
        miss = ((total - right[:, None] - t) / (total - t)).clamp(min=0).cumprod(dim=1)  # (queries, k_max)
        out[direction] = {k: (1 - miss[:, k - 1]).mean().item() for k in ks}
    return out
