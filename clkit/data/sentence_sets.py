"""The records of the sentence corpus (:mod:`clkit.data.sentences`): triples for supervised SimCSE, graded pairs
for evaluation, and the corpus that holds them with their tokenizer.

:class:`SentenceTriples` is a record like :class:`~clkit.data.TextSet` (``len``, ``triples[index]``, ``.to``,
``take``), so :func:`clkit.train.fit` trains on it; only its ``tokens`` have one more axis, the three sentences
of each example. :class:`SentencePairs` is not trained on; it is what the similarity evaluation reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from clkit.data.records import TextSet, _LabelledSet, check_token_ids
from clkit.data.tokens import Tokenizer

__all__ = ["SentenceCorpus", "SentencePairs", "SentenceTriples"]


@dataclass(eq=False, repr=False)
class SentenceTriples(_LabelledSet):
    """(anchor, positive, hard negative) sentences as token ids: the examples of supervised SimCSE.

    Attributes:
        tokens: (N, 3, L) int64 token ids, 0 = padding; ``tokens[:, 0]`` the anchors, ``tokens[:, 1]`` a sentence
            that means the same (the positive), ``tokens[:, 2]`` one that contradicts it (the hard negative).
        labels: (N,) int64, the anchor's class (its meaning), each in ``0 .. len(classes) - 1``.
        classes: class names.
        name: where the triples come from.
        captions: optional N strings, the anchors' text.
        images: always ``None``.
    """

    _ROWS: ClassVar[str] = "tokens"
    _NOUN: ClassVar[str] = "triples"

    tokens: Tensor
    labels: Tensor
    classes: list[str]
    name: str
    captions: list[str] | None = None

    def _check_rows(self) -> None:
        check_token_ids(self.tokens, self.tokens.ndim == 3 and self.tokens.shape[1] == 3,
                        "tokens must be (N, 3, L): an anchor, a positive and a hard negative per row")

    @property
    def images(self) -> None:
        """Sentences carry no images: always ``None``."""
        return None

    def __repr__(self) -> str:
        n, _, length = self.tokens.shape
        return f"SentenceTriples({self.name!r}, N={n}, 3×L={length}, {self._repr_tail()}"


@dataclass(eq=False)
class SentencePairs:
    """Pairs of sentences with a graded similarity score, as STS benchmarks give them.

    Attributes:
        tokens_a, tokens_b: (N, L) int64 token ids of the first and second sentence of each pair.
        scores: (N,) float32 similarity, 0 (different topics) to 5 (same meaning).
        labels_a, labels_b: (N,) int64 meaning of each sentence.
        texts_a, texts_b: the sentences.
    """

    tokens_a: Tensor
    tokens_b: Tensor
    scores: Tensor
    labels_a: Tensor
    labels_b: Tensor
    texts_a: list[str]
    texts_b: list[str]

    def __post_init__(self) -> None:
        n = len(self.scores)
        sizes = {len(x) for x in (self.tokens_a, self.tokens_b, self.labels_a, self.labels_b, self.texts_a,
                                   self.texts_b)}
        if sizes != {n}:
            raise ValueError(f"every field of SentencePairs must hold one entry per pair ({n}), "
                             f"got sizes {sorted(sizes)}")
        if self.tokens_a.shape != self.tokens_b.shape or self.tokens_a.ndim != 2:
            raise ValueError(f"tokens_a and tokens_b must both be (N, L), got {tuple(self.tokens_a.shape)} and "
                             f"{tuple(self.tokens_b.shape)}")

    def __len__(self) -> int:
        return len(self.scores)

    def at(self, score: float) -> Tensor:
        """(N,) bool: the pairs graded ``score`` (5: the paraphrases)."""
        return self.scores == score


@dataclass(eq=False)
class SentenceCorpus:
    """Everything the SimCSE lesson reads, made by :func:`clkit.data.make_sentences`.

    Attributes:
        tokenizer: fitted on the training sentences.
        train: unsupervised training sentences (training meanings only), labels = meaning ids.
        triples: supervised training triples (training meanings only).
        sentences: evaluation sentences, several paraphrases of each held-out meaning, labels = meaning ids.
        pairs: graded evaluation pairs over held-out meanings.
        held_out: the ids of every held-out meaning (no training sentence or triple says one).
    """

    tokenizer: Tokenizer
    train: TextSet
    triples: SentenceTriples
    sentences: TextSet
    pairs: SentencePairs
    held_out: tuple[int, ...]

    def __repr__(self) -> str:
        return (f"SentenceCorpus({len(self.tokenizer)} token ids; train {len(self.train)} sentences, "
                f"{len(self.triples)} triples; held out: {len(self.sentences)} sentences, {len(self.pairs)} pairs)")
