"""What a Transformer stack reads: its side's input vectors, scaled, projected to the model width, positioned."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ...data.vocab import PAD
from ..dropout import Dropout
from ..linear import Linear
from .positions import LearnedPositions, SinusoidalPositions


class EmbeddingScaling(nn.Module):
    """Token embeddings drawn from N(0, 1/E) and multiplied by sqrt(E) when read (Vaswani et al. 2017, §3.4),
    so they enter the stack at unit scale, like the positions added to them, while a tied output layer
    (Press & Wolf 2017) starts from small logits. Feature projections are read as they are (factor 1)."""

    def __init__(self, layer: nn.Module):
        """layer: the side's input layer (owned by the encoder or the head, not by this module)."""
        super().__init__()
        self.factor = 1.0
        if isinstance(layer, nn.Embedding):
            self.factor = math.sqrt(layer.embedding_dim)
            with torch.no_grad():
                nn.init.normal_(layer.weight, std=layer.embedding_dim ** -0.5)
                layer.weight[PAD].zero_()

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, E) -> (B, T, E)."""
        return x * self.factor if self.factor != 1.0 else x


class TransformerInput(nn.Module):
    """(B, T, E) input vectors -> scaled, projected to D when E != D, plus positions offset..offset+T-1,
    then dropout -> (B, T, D)."""

    def __init__(self, layer: nn.Module, embedding_size: int, size: int,
                 positions: SinusoidalPositions | LearnedPositions, dropout: float):
        super().__init__()
        self.scaling = EmbeddingScaling(layer)
        self.projection = Linear(embedding_size, size, bias=False) if embedding_size != size else None
        self.positions = positions
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """x: (B, T, E) what the input layer made; offset: the position of the first step."""
        x = self.scaling(x)
        if self.projection is not None:
            x = self.projection(x)
        return self.dropout(x + self.positions(x.size(1), offset).to(x.dtype))
