"""Attention over encoder outputs: dot and general scores (Luong et al. 2015), scaled dot (Vaswani et al.
2017), concat, the additive score of Bahdanau et al. (2015), and location, the additive score with
location-aware features (Chorowski et al. 2015); several heads for the multiplicative scores."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .alignment import AlignmentFeatures
from .linear import Linear

ADDITIVE = ("concat", "location")


class Attention(nn.Module):
    """Scores a decoder state s against every encoder output h, softmax over real positions.

    dot:        s . h                        (needs query_size == value_size)
    scaled_dot: s . h / sqrt(d)              d = the size each head scores in
    general:    s . (W h)                    W h precomputed once per batch
    concat:     v . tanh(W_q s + W_k h)      = v . tanh(W [s; h]); W_k h precomputed once per batch
    location:   v . tanh(W_q s + W_k h + U f) f = the alignment features (see `alignment`)
    With `features` (location, or coverage on an additive score) the score also reads the previous
    step's weights and/or their running sum, so it is computed one step at a time.
    With heads > 1 (dot, scaled_dot, general) s and the keys are split into `heads` parts of d =
    query_size / heads, each part scores and weights on its own, reads its part of the values, and the
    heads' contexts are concatenated and projected (W_o), as in Vaswani et al. (2017).
    Padded positions get score -inf, so their weight is exactly 0.
    """

    def __init__(self, score: str, query_size: int, value_size: int, heads: int = 1,
                 features: AlignmentFeatures | None = None):
        super().__init__()
        self.score = score
        self.heads = heads
        if score in ("general", *ADDITIVE):
            self.key_proj = Linear(value_size, query_size, bias=False)
        if score in ADDITIVE:
            self.query_proj = Linear(query_size, query_size)
            self.v = Linear(query_size, 1, bias=False)
        self.scale = 1.0 / math.sqrt(query_size // heads) if score == "scaled_dot" else 1.0
        self.features = features
        self.out_proj = Linear(value_size, value_size, bias=False) if heads > 1 else None

    @property
    def stepwise(self) -> bool:
        """Whether the score reads earlier steps' weights (then sequences are attended step by step)."""
        return self.features is not None

    def precompute(self, values: Tensor) -> Tensor:
        """values: (B, S, He) encoder outputs -> keys (B, S, K); done once per batch."""
        return values if self.score in ("dot", "scaled_dot") else self.key_proj(values)

    def forward(self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor, previous: Tensor | None = None,
                coverage: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """query: (B, T, Hd) or (B, Hd); keys: (B, S, K); values: (B, S, He); mask: (B, S) bool;
        previous, coverage: (B, S) the last step's weights and their running sum (stepwise scores only,
        with a (B, Hd) query).

        Returns the attention context (B, [T,] He), the weights (B, [T,] S) (averaged over heads) and
        the weights of each head (B, [T,] N, S) (N = 1 with one head).
        """
        single = query.dim() == 2
        q = query.unsqueeze(1) if single else query
        if self.heads > 1:
            context, weights, per_head = self._heads(q, keys, values, mask)
        else:
            if self.score in ADDITIVE:
                # (B, T, 1, A) + (B, 1, S, A) -> (B, T, S, A) -> (B, T, S)
                energy = self.query_proj(q).unsqueeze(2) + keys.unsqueeze(1)
                if self.features is not None:
                    energy = energy + self.features(previous, coverage).unsqueeze(1)
                scores = self.v(torch.tanh(energy)).squeeze(-1)
            else:
                scores = torch.bmm(q, keys.transpose(1, 2))
                if self.scale != 1.0:
                    scores = scores * self.scale
            weights = torch.softmax(scores.masked_fill(~mask.unsqueeze(1), float("-inf")), dim=-1)
            context = torch.bmm(weights, values)
            per_head = weights.unsqueeze(2)
        if single:
            return context.squeeze(1), weights.squeeze(1), per_head.squeeze(1)
        return context, weights, per_head

    def _heads(self, q: Tensor, keys: Tensor, values: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Several heads of a multiplicative score: q (B, T, Hd) -> context (B, T, He), mean weights (B, T, S),
        each head's weights (B, T, N, S)."""
        # (B, N, T, d) x (B, N, d, S) -> (B, N, T, S)
        scores = torch.matmul(_split(q, self.heads), _split(keys, self.heads).transpose(2, 3)) * self.scale
        per_head = torch.softmax(scores.masked_fill(~mask[:, None, None, :], float("-inf")), dim=-1)
        # (B, N, T, S) x (B, N, S, He/N) -> (B, N, T, He/N) -> (B, T, He)
        parts = torch.matmul(per_head, _split(values, self.heads)).transpose(1, 2)
        context = self.out_proj(parts.reshape(*parts.shape[:2], -1))
        per_head = per_head.transpose(1, 2)
        return context, per_head.mean(2), per_head


def _split(x: Tensor, heads: int) -> Tensor:
    """(B, L, H) -> (B, N, L, H / N): the heads' parts of the last dimension."""
    return x.view(x.size(0), x.size(1), heads, -1).transpose(1, 2)
