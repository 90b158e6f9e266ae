"""A word-level tokenizer the kit makes from its own text: sentences in, rows of token ids out.

The kit's text (shape captions, template sentences) has a small closed vocabulary, so words are
the natural tokens: a sentence is lower-cased, split into words and punctuation marks, and each
piece looked up in a vocabulary built from the training text. Three ids are reserved::

    0  [PAD]   fills a row after the sentence (every record pads with 0, see :mod:`clkit.data.records`)
    1  [UNK]   a word the vocabulary does not hold
    2  [EOS]   ends every sentence, so a one-word sentence still differs from padding

>>> tok = Tokenizer.fit(["a red square", "a blue circle."])
>>> tok.encode(["a red circle"], length=6)
tensor([[3, 7, 6, 2, 0, 0]])
>>> tok.decode(tok.encode(["a green square"]))
['a [UNK] square']
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

__all__ = ["PAD", "UNK", "EOS", "Tokenizer", "words"]

PAD, UNK, EOS = 0, 1, 2
_SPECIAL = ("[PAD]", "[UNK]", "[EOS]")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")


def words(text: str) -> list[str]:
    """The pieces of ``text``: lower-cased words (with an apostrophe's ending kept on) and single punctuation marks.

    >>> words("A small, red triangle's edge!")
    ['a', 'small', ',', 'red', "triangle's", 'edge', '!']
    """
    return _WORD.findall(text.lower())


class Tokenizer:
    """Words ↔ ids over a fixed vocabulary (see the module docstring for the reserved ids).

    Args:
        vocabulary: the words, in id order from 3 (the reserved ids come first and are added here).
    """

    def __init__(self, vocabulary: Sequence[str]):
        vocabulary = list(vocabulary)
        clash = sorted(set(vocabulary) & set(_SPECIAL))
        if clash:
            raise ValueError(f"the vocabulary must not hold the reserved tokens {', '.join(clash)}")
        if len(set(vocabulary)) != len(vocabulary):
            repeated = sorted(w for w, n in Counter(vocabulary).items() if n > 1)
            raise ValueError(f"the vocabulary holds words more than once: {', '.join(repeated[:5])}")
        self.vocabulary = [*_SPECIAL, *vocabulary]
        self._ids = {w: i for i, w in enumerate(self.vocabulary)}

    @classmethod
    def fit(cls, texts: Iterable[str], min_count: int = 1) -> Tokenizer:
        """The tokenizer of every word seen at least ``min_count`` times in ``texts``, most frequent first
        (ties alphabetical, so the same texts always give the same ids)."""
        if min_count < 1:
            raise ValueError(f"min_count must be ≥ 1, got {min_count}")
        counts = Counter(w for text in texts for w in words(text))
        kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        return cls(kept)

    def __len__(self) -> int:
        """The number of ids, reserved ones included: the size of a model's embedding table."""
        return len(self.vocabulary)

    def encode(self, texts: Sequence[str], length: int | None = None) -> Tensor:
        """Token ids of each text, then [EOS], right-padded with [PAD].

        Args:
            texts: N sentences.
            length: the row length L; longer sentences are cut to L − 1 words and [EOS]. None: the
                longest sentence's length.
        Returns:
            (N, L) int64.
        """
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of sentences; wrap a single sentence in a list")
        rows = [[self._ids.get(w, UNK) for w in words(t)] for t in texts]
        if length is None:
            length = max((len(r) + 1 for r in rows), default=1)
        if length < 1:
            raise ValueError(f"length must be ≥ 1 (room for [EOS]), got {length}")
        out = torch.full((len(rows), length), PAD, dtype=torch.int64)
        for i, row in enumerate(rows):
            row = row[: length - 1] + [EOS]
            out[i, : len(row)] = torch.tensor(row)
        return out

    def decode(self, tokens: Tensor) -> list[str]:
        """The words of each row of ``tokens`` (N, L) up to its [EOS] or padding, joined by spaces."""
        if tokens.ndim != 2:
            raise ValueError(f"tokens must be 2-D (N, L), got shape {tuple(tokens.shape)}")
        texts = []
        for row in tokens.tolist():
            kept = []
            for i in row:
                if i in (PAD, EOS):
                    break
                kept.append(self.vocabulary[i] if 0 <= i < len(self) else "[UNK]")
            texts.append(" ".join(kept))
        return texts

    def __repr__(self) -> str:
        return f"Tokenizer({len(self)} ids: {', '.join(self.vocabulary[3:9])}, …)"
