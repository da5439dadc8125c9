"""Attention over encoder outputs: dot and general scores (Luong et al. 2015) and concat, the additive
score of Bahdanau et al. (2015)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Attention(nn.Module):
    """Scores a decoder state s against every encoder output h, softmax over real positions.

    dot:     s . h                        (needs query_size == value_size)
    general: s . (W h)                    W h precomputed once per batch
    concat:  v . tanh(W_q s + W_k h)      = v . tanh(W [s; h]); W_k h precomputed once per batch
    Padded positions get score -inf, so their weight is exactly 0.
    """

    def __init__(self, score: str, query_size: int, value_size: int):
        super().__init__()
        self.score = score
        if score in ("general", "concat"):
            self.key_proj = nn.Linear(value_size, query_size, bias=False)
        if score == "concat":
            self.query_proj = nn.Linear(query_size, query_size)
            self.v = nn.Linear(query_size, 1, bias=False)

    def precompute(self, values: Tensor) -> Tensor:
        """values: (B, S, He) encoder outputs -> keys (B, S, K); done once per batch."""
        return values if self.score == "dot" else self.key_proj(values)

    def forward(self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """query: (B, T, Hd) or (B, Hd); keys: (B, S, K); values: (B, S, He); mask: (B, S) bool.

        Returns the attention context (B, T, He) or (B, He) and weights (B, T, S) or (B, S).
        """
        single = query.dim() == 2
        q = query.unsqueeze(1) if single else query
        if self.score == "concat":
            # (B, T, 1, A) + (B, 1, S, A) -> (B, T, S, A) -> (B, T, S)
            scores = self.v(torch.tanh(self.query_proj(q).unsqueeze(2) + keys.unsqueeze(1))).squeeze(-1)
        else:
            scores = torch.bmm(q, keys.transpose(1, 2))
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        context = torch.bmm(weights, values)
        if single:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights
