"""The position-wise feed-forward layer of a Transformer block."""

from __future__ import annotations

from torch import Tensor, nn

from seq2seq.models.linear import Linear


class PositionwiseFeedForward(nn.Module):
    """FFN(x) = W2 relu(W1 x + b1) + b2, the same at every position (Vaswani et al. 2017, §3.3).

    x: (B, T, D) -> (B, T, D), through an inner width F (model.transformer_ff_size).
    """

    def __init__(self, size: int, inner_size: int):
        super().__init__()
        self.inner = Linear(size, inner_size)
        self.outer = Linear(inner_size, size)
        for layer in (self.inner, self.outer):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, D) -> (B, T, D)."""
        return self.outer(self.inner(x).relu())
