"""A small transformer text encoder for the kit's sentences and captions, trained from scratch on a CPU.

Token ids (from :class:`clkit.data.Tokenizer`, 0 = padding) are embedded, a learned position embedding
is added, and the same pre-norm blocks as the ViT's (:class:`clkit.models.vit.Block`) mix them, with
padding masked out of attention. The sentence's features are the mean of its tokens' outputs (padding
excluded), then a LayerNorm::

    x_0 = E[t_1 … t_L] + P                          (L, dim)
    x_l = Block(x_{l-1}),  l = 1 … depth            attention sees only real tokens
    h   = LN( Σ_{i: t_i ≠ 0} x_depth[i] / #{i: t_i ≠ 0} )

Mean pooling rather than a class token or CLIP's end-of-text token: on short template sentences it
trains fastest from scratch, and every token gets a gradient. ``dropout`` acts inside every block
while training; it is off in ``eval()``, so the same sentence then always gives the same features
(SimCSE's positive pair is two training-mode passes that differ only in their dropout masks).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from clkit.models.encoders import Encoder
from clkit.models.vit import Block, _init

__all__ = ["TextTransformer", "text_transformer"]


class TextTransformer(nn.Module):
    """Token ids (N, L) int64, 0 = padding → sentence features (N, dim).

    Args:
        vocab_size: the tokenizer's ``len()``: ids run from 0 to vocab_size − 1.
        max_length: the longest row the position embedding covers.
        dim: token width, and the width of the features.
        depth: number of transformer blocks.
        heads: attention heads per block (``dim`` must be a multiple).
        mlp_ratio: the MLP's hidden width as a multiple of ``dim``.
        dropout: dropout on the embeddings and on each block's branches (0.1 as in BERT and SimCSE).
    """

    def __init__(self, vocab_size: int, max_length: int = 32, dim: int = 96, depth: int = 2, heads: int = 3,
                 mlp_ratio: float = 2.0, dropout: float = 0.1):
        super().__init__()
        if vocab_size < 4:
            raise ValueError(f"vocab_size must cover the 3 reserved ids and at least one word, got {vocab_size}")
        if max_length < 1:
            raise ValueError(f"max_length must be ≥ 1, got {max_length}")
        self.vocab_size, self.max_length, self.dim = vocab_size, max_length, dim
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.positions = nn.Parameter(torch.zeros(1, max_length, dim))
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.apply(_init)
        nn.init.trunc_normal_(self.embed.weight, std=0.02)
        nn.init.trunc_normal_(self.positions, std=0.02)
        with torch.no_grad():
            self.embed.weight[0].zero_()

    def forward(self, tokens: Tensor) -> Tensor:
        if tokens.ndim != 2 or tokens.dtype != torch.int64:
            raise ValueError(f"tokens must be (N, L) int64 token ids, got {tuple(tokens.shape)} {tokens.dtype}")
        n, length = tokens.shape
        if length > self.max_length:
            raise ValueError(f"rows of {length} tokens are longer than max_length={self.max_length}; encode the "
                             f"text with length ≤ {self.max_length} or build the encoder with a larger max_length")
        keep = tokens != 0  # (N, L): the real tokens
        keep[:, 0] |= ~keep.any(1)  # an all-padding row attends to its first slot rather than to nothing
        x = self.drop(self.embed(tokens) + self.positions[:, :length])  # (N, L, dim)
        for block in self.blocks:
            x = block(x, keep)
        weights = keep.unsqueeze(-1).to(x.dtype)  # (N, L, 1)
        return self.norm((x * weights).sum(1) / weights.sum(1))  # (N, dim): the mean over real tokens


def text_transformer(vocab_size: int, **options: float) -> Encoder:
    """A :class:`TextTransformer` as an :class:`~clkit.models.Encoder` (``.dim``, ``.name``), the features a
    text method evaluates; ``options`` (``max_length``, ``dim``, ``depth``, ``heads``, ``mlp_ratio``,
    ``dropout``) go to the transformer."""
    net = TextTransformer(vocab_size, **options)
    return Encoder(net, dim=net.dim, name="text_transformer")
