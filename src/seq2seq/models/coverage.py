"""Coverage as a training loss: how much of the source the attention has read (the beam-search penalty is
`search.coverage`).

Coverage loss (See et al. 2017, "Get To The Point"): at each target step t, sum_i min(a_ti, c_ti) with
c_t = sum_{t' < t} a_t', which is high when the decoder attends again where it already attended
(repeated words) and is added to the training loss with weight `train.coverage_loss`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .masks import length_mask


def average_heads(attention: Tensor, per_head: bool) -> Tensor:
    """Weights with a heads dimension before the source one ((..., N, S), `per_head`) -> (..., S)."""
    return attention.mean(-2) if per_head else attention


def coverage_loss(attention: Tensor, lengths: Tensor) -> Tensor:
    """Summed sum_i min(a_ti, c_ti) over the real target steps. attention: (B, T, S) weights or (B, T, N, S)
    per head (averaged); lengths: (B,) real target steps."""
    weights = average_heads(attention.float(), attention.dim() == 4)
    coverage = weights.cumsum(1) - weights
    real = length_mask(lengths.to(weights.device), weights.size(1)).unsqueeze(-1)
    return (torch.minimum(weights, coverage) * real).sum()
