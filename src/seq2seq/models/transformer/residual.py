"""The pre-norm residual connection around each sublayer of a Transformer block."""

from __future__ import annotations

from torch import Tensor, nn

from ..dropout import add_dropped


class PreNormResidual(nn.Module):
    """y = x + dropout(f(LayerNorm(x))): the sublayer f reads a normalised copy of x and its output is added back.

    Normalising the sublayer's input rather than the sum (pre-norm: Wang et al. 2019, Xiong et al. 2020) keeps
    the residual path an identity, so a stack trains without the long learning-rate warm-up post-norm needs;
    the stack then ends in one more LayerNorm. Use: `h = block.norm(x)`, run f on h, `x = block(x, f(h))`.
    """

    def __init__(self, size: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(size)
        self.dropout = dropout

    def forward(self, x: Tensor, branch: Tensor) -> Tensor:
        """x: (B, T, D) the block's input; branch: (B, T, D) the sublayer's output on norm(x)."""
        return add_dropped(x, branch, self.dropout, self.training)
