"""A convolutional front end that shortens feature sequences before a Transformer encoder."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..masks import length_mask


def _real(x: Tensor, lengths: Tensor) -> Tensor:
    """x (B, S, C) with every step at or beyond its row's length set to zero."""
    mask = length_mask(lengths.to(x.device), x.size(1))
    return x * mask.unsqueeze(-1).to(x.dtype)


class ConvSubsampling(nn.Module):
    """`layers` 1-D convolutions over time (kernel 3, stride 2, ReLU), each halving the steps, as speech
    Transformers shorten 10 ms frames before self-attention, whose cost grows with the square of the length
    (Dong et al. 2018, Speech-Transformer, with 2-D convolutions; Mohamed et al. 2019).

    Padded steps are zeroed before every convolution, so a sequence's result never depends on how much
    padding its batch has (a convolution's own zero padding and a batch's padding then look alike).
    """

    def __init__(self, size: int, layers: int):
        super().__init__()
        self.convolutions = nn.ModuleList(nn.Conv1d(size, size, 3, stride=2, padding=1) for _ in range(layers))

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """x: (B, S, C); lengths: (B,) -> (B, ceil(S / 2**layers), C) and the new lengths ceil(L / 2**layers)."""
        for conv in self.convolutions:
            x = conv(_real(x, lengths).transpose(1, 2)).relu().transpose(1, 2)
            lengths = torch.div(lengths + 1, 2, rounding_mode="floor")
        return x, lengths
