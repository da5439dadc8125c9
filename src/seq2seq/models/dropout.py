"""Inverted dropout (Srivastava et al. 2014) drawn from uniform noise: torch's distribution, a cheaper CPU kernel."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _keep_mask(x: Tensor, p: float) -> Tensor:
    """1 / (1 - p) where a unit is kept (probability 1 - p), 0 where it is dropped; x's shape and dtype."""
    # torch's CPU dropout draws with bernoulli_, about twice the time of a uniform draw and a comparison.
    return (torch.rand_like(x) >= p).to(x.dtype).mul_(1.0 / (1.0 - p))


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Zero each element with probability p and scale the rest by 1 / (1 - p) while training; x unchanged otherwise."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, True)
    return x * _keep_mask(x, p)


def add_dropped(x: Tensor, branch: Tensor, p: float, training: bool) -> Tensor:
    """x + dropout(branch), the residual sum, in one kernel on the CPU."""
    if not training or p == 0.0 or branch.device.type != "cpu" or p >= 1.0:
        return x + F.dropout(branch, p, training)
    return torch.addcmul(x, branch, _keep_mask(branch, p))


class Dropout(nn.Module):
    """`dropout` as a module, a drop-in for `nn.Dropout`."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        """Dropped while training, x itself in eval mode."""
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
