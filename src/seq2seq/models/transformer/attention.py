"""Multi-head scaled dot-product attention with a key-padding mask and a causal mask."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..dropout import dropout
from ..linear import Linear


class MultiHeadAttention(nn.Module):
    """softmax(Q K^T / sqrt(d_k)) V in H heads of d_k = D / H, concatenated and projected (Vaswani et al. 2017,
    §3.2). The same module serves self-attention and cross-attention: keys and values are projected by
    `keys_values` (once per batch for an encoder memory, step by step into a decoder's cache) and read by
    `forward`. The kernel is torch's `scaled_dot_product_attention`; only where the weights are asked for
    (the maps a decoder shows) are they computed explicitly, with the same masks.

    Masks: `key_mask` (B, S) True at real keys (padding gets weight exactly 0); `causal` lets the T queries,
    the last T of the S positions, see only keys up to their own position.
    """

    def __init__(self, size: int, heads: int, dropout: float = 0.0, key_size: int | None = None):
        """size: the queries' and output width D; key_size: the width of what keys and values are made from
        (D for self-attention, the encoder's output size for cross-attention)."""
        super().__init__()
        self.heads = heads
        self.head_size = size // heads
        self.dropout = dropout
        key_size = size if key_size is None else key_size
        self.query = Linear(size, size)
        # No key bias: it adds q . b to every score of a query alike, which the softmax cancels, so its gradient
        # is only rounding noise - which Adam would turn into full-size steps.
        self.key = Linear(key_size, size, bias=False)
        self.value = Linear(key_size, size)
        self.output = Linear(size, size)
        for layer in (self.query, self.key, self.value, self.output):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def _split(self, x: Tensor) -> Tensor:
        """(B, L, D) -> (B, H, L, d_k)."""
        return x.view(x.size(0), x.size(1), self.heads, self.head_size).transpose(1, 2)

    def keys_values(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """What the attention reads, x: (B, S, K) -> keys and values, each (B, H, S, d_k)."""
        return self._split(self.key(x)), self._split(self.value(x))

    def _mask(self, key_mask: Tensor | None, causal: bool, queries: int, keys: int,
              device: torch.device) -> Tensor | None:
        """Boolean (B or 1, 1, T, S) mask, True where a query may look; None when nothing is masked."""
        mask = None if key_mask is None else key_mask[:, None, None, :]
        if causal and queries > 1:
            # Query i is position keys - queries + i: it sees keys up to there.
            seen = torch.ones(queries, keys, dtype=torch.bool, device=device).tril(keys - queries)
            mask = seen[None, None] if mask is None else mask & seen
        return mask

    def forward(self, query: Tensor, keys: Tensor, values: Tensor, key_mask: Tensor | None = None,
                causal: bool = False, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """query: (B, T, D); keys, values: (B, H, S, d_k) from `keys_values`; key_mask: (B, S) bool or None.

        Returns the output (B, T, D) and, with need_weights, the weights (B, H, T, S) (before dropout).
        """
        q = self._split(self.query(query))
        mask = self._mask(key_mask, causal, q.size(2), keys.size(2), q.device)
        p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            scores = q @ keys.transpose(-2, -1) / math.sqrt(self.head_size)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(-1)
            context = dropout(weights, p, self.training) @ values
        else:
            context = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, dropout_p=p)
        b, _, t, _ = context.shape
        return self.output(context.transpose(1, 2).reshape(b, t, -1)), weights
