"""Where a step is: fixed sinusoidal or learned position embeddings, added to a Transformer's inputs."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class SinusoidalPositions(nn.Module):
    """PE(p, 2i) = sin(p / 10000^(2i/D)), PE(p, 2i+1) = cos(p / 10000^(2i/D)) (Vaswani et al. 2017, §3.5).

    No weights and no length limit: each position is computed when asked for.
    """

    def __init__(self, size: int):
        super().__init__()
        self.size = size
        # Kept out of the state dict: a function of the size, not a weight.
        self.register_buffer("inverse_frequency", torch.exp(torch.arange(0, size, 2).float()
                                                           * (-math.log(10000.0) / size)), persistent=False)

    def forward(self, length: int, offset: int = 0) -> Tensor:
        """Positions offset .. offset + length - 1 -> (length, D)."""
        steps = torch.arange(offset, offset + length, device=self.inverse_frequency.device).float()
        angles = steps.unsqueeze(1) * self.inverse_frequency.unsqueeze(0)
        table = torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)
        return table[:, : self.size]


class LearnedPositions(nn.Module):
    """One learned vector per position (Gehring et al. 2017), up to `max_positions`; beyond it a clear error."""

    def __init__(self, size: int, max_positions: int):
        super().__init__()
        self.max_positions = max_positions
        self.table = nn.Embedding(max_positions, size)
        nn.init.normal_(self.table.weight, std=size ** -0.5)

    def forward(self, length: int, offset: int = 0) -> Tensor:
        """Positions offset .. offset + length - 1 -> (length, D)."""
        if offset + length > self.max_positions:
            raise ValueError(f"a sequence of {offset + length} steps is longer than model.max_positions="
                             f"{self.max_positions} (learned positions)")
        # A lookup, not a slice: an offset the ONNX tracer follows as a shape (a cache's length) stays dynamic.
        return self.table(torch.arange(offset, offset + length, device=self.table.weight.device))


def make_positions(kind: str, size: int, max_positions: int) -> SinusoidalPositions | LearnedPositions:
    """`model.positions` -> its module."""
    return SinusoidalPositions(size) if kind == "sinusoidal" else LearnedPositions(size, max_positions)
