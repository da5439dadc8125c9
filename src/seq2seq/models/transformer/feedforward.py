"""The position-wise feed-forward layer of a Transformer block."""

from __future__ import annotations

from torch import Tensor, nn

from ..dropout import dropout
from ..linear import Linear


class PositionwiseFeedForward(nn.Module):
    """FFN(x) = W2 relu(W1 x + b1) + b2, the same at every position (Vaswani et al. 2017, §3.3).

    x: (B, T, D) -> (B, T, D), through an inner width F (model.transformer_ff_size); `activation_dropout` drops
    units of relu(W1 x + b1) while training (fairseq's activation dropout).
    """

    def __init__(self, size: int, inner_size: int, activation_dropout: float = 0.0):
        super().__init__()
        self.activation_dropout = activation_dropout
        self.inner = Linear(size, inner_size)
        self.outer = Linear(inner_size, size)
        for layer in (self.inner, self.outer):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, D) -> (B, T, D)."""
        hidden = self.inner(x).relu()
        return self.outer(dropout(hidden, self.activation_dropout, self.training))
