"""The Listen, Attend and Spell listener's pyramid (Chan et al. 2016): each layer halves the time steps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .dropout import Dropout
from .masks import length_mask
from .rnn import StackedRNN


def halve(x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """Concatenate consecutive pairs of steps: (B, S, I) -> (B, ceil(S/2), 2I); lengths -> ceil(L/2).

    Padded steps are zeroed first and an odd last step is paired with zeros, so a sequence's result
    never depends on how much padding its batch has.
    """
    b, s, i = x.shape
    mask = length_mask(lengths.to(x.device), s)
    # Padded by s % 2 steps, not under an `if`: an exported graph then pairs odd and even lengths alike.
    x = F.pad(x * mask.unsqueeze(-1).to(x.dtype), (0, 0, 0, s % 2))
    return x.reshape(b, (s + 1) // 2, 2 * i), torch.div(lengths + 1, 2, rounding_mode="floor")


class PyramidalListener(nn.Module):
    """LAS pyramidal bi-RNN (Chan et al. 2016): each layer halves the time resolution.

    Layer i reads consecutive pairs of the layer below's outputs, concatenated, through a one-layer
    bidirectional RNN; `num_layers` layers cut the steps by 2**num_layers, which makes attention over
    long feature sequences (100 frames per second) short and focused.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int, dropout: float = 0.0):
        super().__init__()
        self.layers = nn.ModuleList(
            StackedRNN(cell, 2 * (input_size if i == 0 else 2 * hidden_size), hidden_size, 1, bidirectional=True)
            for i in range(num_layers))
        self.dropout = Dropout(dropout)
        self.output_size = 2 * hidden_size

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """x: (B, S, I); lengths: (B,) -> (B, ceil(S / 2**P), 2H) (zeros at padding) and the new lengths."""
        for i, rnn in enumerate(self.layers):
            if i > 0:
                x = self.dropout(x)
            x, lengths = halve(x, lengths)
            x, _ = rnn(x, lengths)
        return x, lengths
