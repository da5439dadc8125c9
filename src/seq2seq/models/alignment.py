"""What an additive attention score may read of earlier steps' weights.

Location-aware attention (Chorowski et al. 2015, "Attention-Based Models for Speech Recognition"): a 1-D
convolution over the previous step's weights gives each source position features f_i saying where
the decoder looked last, so it can move on monotonically (speech) instead of finding the same frame
by content twice; e = v . tanh(W s + V h_i + U f_i).
Coverage (Tu et al. 2016, "Modeling Coverage for Neural Machine Translation"; See et al. 2017): the
running sum of all earlier weights c_i joins the score, e = v . tanh(W s + V h_i + w_c c_i), so the
model can see what it has already translated. With both, the convolution reads the two as channels.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .linear import Linear


class AlignmentFeatures(nn.Module):
    """(previous weights, coverage), each (B, S) or None -> features (B, S, A) added inside the score."""

    def __init__(self, size: int, location: bool, coverage: bool, channels: int = 10, kernel: int = 31):
        super().__init__()
        self.location, self.coverage = location, coverage
        inputs = int(location) + int(coverage)
        if location:
            # Odd kernel, `kernel // 2` zeros each side: position i sees i - k//2 .. i + k//2, and weights
            # beyond a sentence's end (exactly 0) read like the zero padding: padding never changes a result.
            self.conv = nn.Conv1d(inputs, channels, kernel, padding=kernel // 2, bias=False)
            self.proj = Linear(channels, size, bias=False)
        else:
            self.proj = Linear(inputs, size, bias=False)

    def forward(self, previous: Tensor | None, coverage: Tensor | None) -> Tensor:
        """previous, coverage: (B, S) -> (B, S, size)."""
        history = [h for h, used in ((previous, self.location), (coverage, self.coverage)) if used]
        stacked = torch.stack(history, 1)  # (B, C, S)
        if self.location:
            return self.proj(self.conv(stacked).transpose(1, 2))
        return self.proj(stacked.transpose(1, 2))

    def initial(self, mask: Tensor, like: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """The history before the first step: uniform previous weights over real positions (as if the
        decoder had looked everywhere alike) and zero coverage. mask: (B, S) bool."""
        real = mask.to(like.dtype)
        previous = real / real.sum(1, keepdim=True) if self.location else None
        return previous, torch.zeros_like(real) if self.coverage else None
