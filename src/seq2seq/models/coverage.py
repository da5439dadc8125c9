"""Coverage as a training loss and as a beam-search penalty: how much of the source the attention has read.

Coverage loss (See et al. 2017, "Get To The Point"): at each target step t, sum_i min(a_ti, c_ti) with
c_t = sum_{t' < t} a_t', which is high when the decoder attends again where it already attended
(repeated words) and is added to the training loss with weight `train.coverage_loss`.
Coverage penalty (Wu et al. 2016, GNMT): cp = beta * sum_i log(min(sum_t a_ti, 1)) over real source
positions, 0 when every source position got a total weight of at least 1 and negative for positions
left unread; beam search adds it to a hypothesis' score (`decode.coverage_penalty`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .masks import length_mask

# log(0) of a never-read position would make every hypothesis -inf: a total weight is floored here.
_FLOOR = 1e-6


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


def coverage_penalty(coverage: Tensor, mask: Tensor, beta: float) -> Tensor:
    """beta * sum over real positions of log(min(coverage, 1)). coverage: (R, S) summed weights; mask: (R, S)
    bool, True at real positions. Returns (R,), <= 0."""
    logs = coverage.clamp(min=_FLOOR, max=1.0).log()
    return beta * logs.masked_fill(~mask, 0.0).sum(-1)
