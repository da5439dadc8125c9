"""What an encoder or decoder reads: token ids through an embedding, or real vectors through a projection.

Both check their input at the boundary, so a wrong tensor fails with a message naming it rather than
deep inside a matmul.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..data.vocab import PAD
from .dropout import dropout


class TokenEmbedding(nn.Embedding):
    """(B, L) token ids -> (B, L, E) word vectors; <pad> (id 0) embeds to zeros.

    `word_dropout` (model.word_dropout) zeroes whole tokens' vectors while training, one draw per token, the
    rest scaled by 1 / (1 - p): dropout of entire words (Gal & Ghahramani 2016; Sennrich et al. 2016).
    """

    def __init__(self, vocab_size: int, embedding_size: int, word_dropout: float = 0.0):
        super().__init__(vocab_size, embedding_size, padding_idx=PAD)
        self.word_dropout = word_dropout

    def forward(self, x: Tensor) -> Tensor:
        """(B, L) ids -> (B, L, E) vectors (whole tokens dropped while training with word_dropout)."""
        out = super().forward(x)
        if not self.training or self.word_dropout == 0.0:
            return out
        keep = dropout(out.new_ones(*out.shape[:-1], 1), self.word_dropout, True)
        return out * keep

    def check(self, name: str, x: Tensor, batch: int | None = None) -> None:
        """A (B, L) integer tensor of token ids, with L >= 1; ValueError naming `name` otherwise."""
        if not isinstance(x, Tensor):
            raise ValueError(f"{name} must be a tensor of token ids, got {type(x).__name__}")
        if x.dim() != 2:
            raise ValueError(f"{name} must be (batch, length), got shape {tuple(x.shape)}")
        if x.dtype not in (torch.long, torch.int32, torch.int64):
            raise ValueError(f"{name} must hold integer token ids (torch.long), got {x.dtype}")
        _check_common(name, x, batch)


class FeatureProjection(nn.Linear):
    """(B, L, D) real vectors -> (B, L, E): the 'embedding' of a feature side."""

    def check(self, name: str, x: Tensor, batch: int | None = None) -> None:
        """A (B, L, D) float tensor with L >= 1 and D the size this layer reads; ValueError otherwise."""
        if not isinstance(x, Tensor):
            raise ValueError(f"{name} must be a tensor of feature vectors, got {type(x).__name__}")
        if x.dim() != 3:
            raise ValueError(f"{name} must be (batch, length, dim) feature vectors, got shape {tuple(x.shape)}")
        if not x.dtype.is_floating_point:
            raise ValueError(f"{name} must hold real-valued features (float), got {x.dtype}")
        if x.size(2) != self.in_features:
            raise ValueError(f"{name} has vectors of size {x.size(2)}, the model reads {self.in_features}")
        _check_common(name, x, batch)


def _check_common(name: str, x: Tensor, batch: int | None) -> None:
    if x.size(1) == 0:
        raise ValueError(f"{name} has length 0")
    if batch is not None and x.size(0) != batch:
        raise ValueError(f"{name} has batch size {x.size(0)}, the source has {batch}")


# `data.source_type` / `data.target_type` -> the layer that reads that kind of side.
INPUTS: dict[str, type[TokenEmbedding] | type[FeatureProjection]] = {
    "tokens": TokenEmbedding, "features": FeatureProjection}
