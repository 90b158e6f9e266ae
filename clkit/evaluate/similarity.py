"""Sentence similarity: how well a representation's cosine similarity follows graded meaning.

SimCSE (Gao, Yao & Chen 2021, arXiv:2104.08821) is judged as STS benchmarks judge sentence embeddings: the
**Spearman correlation** between the cosine similarity of two sentences' features and a graded 0–5 score,
over many pairs. The kit adds a retrieval view, and the geometry SimCSE analyses in its Figure 2:

- :func:`spearman`: rank correlation with tied ranks averaged (what ``scipy.stats.spearmanr`` computes);
- :func:`paraphrase_retrieval`: the share of sentences whose nearest neighbour says the same meaning;
- :func:`bag_of_words` and :func:`tf_idf`: the baselines that read only which words occur (the counts and
  the TF-IDF weighting of scikit-learn's ``CountVectorizer`` and ``TfidfTransformer``);
- :func:`sentence_scores`: all of these for one encoder on held-out sentences and pairs, with the alignment of
  paraphrase pairs and the uniformity of all sentences (Wang & Isola 2020), and :func:`sentence_monitor`, the
  same numbers as a measure for :func:`clkit.train.fit`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clkit.data import SentencePairs, TextSet
from clkit.data.tokens import EOS, PAD, UNK
from clkit.evaluate.features import features
from clkit.losses import alignment, uniformity

__all__ = ["bag_of_words", "paraphrase_retrieval", "ranks", "sentence_monitor", "sentence_scores", "spearman",
           "tf_idf"]

Encode = Callable[[Tensor], Tensor]


def ranks(x: Tensor) -> Tensor:
    """The rank of each entry of a 1-D tensor, 1 for the smallest, ties given the mean of the ranks they span.

    >>> ranks(torch.tensor([10.0, 30.0, 20.0, 30.0])).tolist()
    [1.0, 3.5, 2.0, 3.5]
    """
    if x.ndim != 1:
        raise ValueError(f"ranks needs a 1-D tensor, got shape {tuple(x.shape)}")
    values, inverse, counts = torch.unique(x.double(), return_inverse=True, return_counts=True)  # sorted values
    below = counts.cumsum(0) - counts  # how many entries are smaller than each distinct value
    return (below + (counts + 1) / 2).double()[inverse]


def spearman(x: Tensor, y: Tensor) -> float:
    r"""Spearman's rank correlation: the Pearson correlation of the ranks (ties averaged), in [−1, 1].

    ρ = Σ (r_i − r̄)(s_i − s̄) / √(Σ (r_i − r̄)² Σ (s_i − s̄)²),  r = ranks(x), s = ranks(y).

    Args:
        x, y: (N,) paired values, N ≥ 2, neither constant.
    """
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"spearman needs two 1-D tensors of the same length ≥ 2, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    r, s = ranks(x.detach().cpu()), ranks(y.detach().cpu())
    r, s = r - r.mean(), s - s.mean()
    denominator = math.sqrt(float((r * r).sum() * (s * s).sum()))
    if denominator == 0:
        raise ValueError("spearman is undefined when one of the two inputs is constant (all its ranks are equal)")
    return float((r * s).sum()) / denominator


def paraphrase_retrieval(z: Tensor, labels: Tensor) -> float:
    """The share of sentences whose nearest other sentence (by cosine similarity) has the same label.

    Sentences whose label no other sentence shares are left out (they have no paraphrase to find).

    Args:
        z: (N, D) features; labels: (N,) meaning of each sentence.
    """
    if z.ndim != 2 or labels.shape != (len(z),):
        raise ValueError(f"z must be (N, D) and labels (N,), got {tuple(z.shape)} and {tuple(labels.shape)}")
    u = F.normalize(z.float(), dim=1)
    similarity = (u @ u.T).fill_diagonal_(-math.inf)  # (N, N), a sentence is not its own neighbour
    same = labels[:, None] == labels[None, :]
    has_partner = (same.sum(1) > 1)
    if not bool(has_partner.any()):
        raise ValueError("no label is shared by two sentences, so there is no paraphrase to retrieve")
    hit = labels[similarity.argmax(1)] == labels
    return float(hit[has_partner].double().mean())


def bag_of_words(tokens: Tensor, vocab_size: int) -> Tensor:
    """How many times each word occurs in each sentence: tokens (N, L) int64 → counts (N, vocab_size) float32.

    The columns of the reserved ids ([PAD], [UNK], [EOS]) stay 0: they are not words of the sentence.
    """
    if tokens.ndim != 2 or tokens.dtype != torch.int64:
        raise ValueError(f"tokens must be (N, L) int64 token ids, got {tuple(tokens.shape)} {tokens.dtype}")
    if tokens.numel() and int(tokens.max()) >= vocab_size:
        raise ValueError(f"token id {int(tokens.max())} is outside a vocabulary of {vocab_size} ids")
    counts = torch.zeros(len(tokens), vocab_size)
    counts.scatter_add_(1, tokens.cpu(), torch.ones(tokens.shape))
    counts[:, [PAD, UNK, EOS]] = 0
    return counts


def tf_idf(counts: Tensor, reference: Tensor | None = None) -> Tensor:
    r"""TF-IDF rows of unit length, as scikit-learn's ``TfidfTransformer()`` (smooth idf, ℓ2 norm) computes them.

    idf_w = ln((1 + n) / (1 + df_w)) + 1, with df_w the number of the n reference sentences holding word w;
    row i is counts_i · idf / ‖counts_i · idf‖.

    Args:
        counts: (N, V) word counts (:func:`bag_of_words`).
        reference: (n, V) counts the idf is learned from (the training sentences); default ``counts`` itself.
    """
    reference = counts if reference is None else reference
    if counts.ndim != 2 or reference.ndim != 2 or counts.shape[1] != reference.shape[1]:
        raise ValueError(f"counts and reference must be (N, V) and (n, V) with one V, got {tuple(counts.shape)} and "
                         f"{tuple(reference.shape)}")
    df = (reference > 0).double().sum(0)
    idf = torch.log((1 + len(reference)) / (1 + df)) + 1  # (V,)
    return F.normalize(counts.double() * idf, dim=1).float()


def sentence_scores(encode: Encode, sentences: TextSet, pairs: SentencePairs) -> dict[str, float]:
    """Every sentence-similarity number of one representation, on held-out sentences and pairs.

    Args:
        encode: token ids (N, L) → features (N, D), e.g. ``lambda t: clkit.evaluate.embed(model, t)``.
        sentences: several paraphrases of each of many meanings (labels = meaning ids).
        pairs: graded pairs; score 5 marks paraphrases.
    Returns:
        ``spearman`` (cosine similarity of each pair against its score), ``retrieval``
        (:func:`paraphrase_retrieval`), ``alignment`` (E‖u − v‖² over the paraphrase pairs, unit vectors) and
        ``uniformity`` (log E e^{−2‖u − v‖²} over the sentences).
    """
    z = encode(sentences.tokens)
    za, zb = encode(pairs.tokens_a), encode(pairs.tokens_b)
    cos = F.cosine_similarity(za.float(), zb.float(), dim=1)
    paraphrase = pairs.at(5)
    return {"spearman": spearman(cos, pairs.scores), "retrieval": paraphrase_retrieval(z, sentences.labels),
            "alignment": float(alignment(za[paraphrase], zb[paraphrase])), "uniformity": float(uniformity(z))}


def sentence_monitor(sentences: TextSet, pairs: SentencePairs) -> Callable[[nn.Module], dict[str, Any]]:
    """:func:`sentence_scores` of a model's features h as a measure for :func:`clkit.train.fit` (``measures=[...]``),
    so a run records the Spearman correlation, retrieval, alignment and uniformity at every measured epoch."""

    def measure(model: nn.Module) -> dict[str, float]:
        return sentence_scores(lambda tokens: features(model, tokens), sentences, pairs)

    return measure
