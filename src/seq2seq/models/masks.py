"""Which steps of a right-padded batch are real."""

from __future__ import annotations

import torch
from torch import Tensor


def length_mask(lengths: Tensor, steps: int) -> Tensor:
    """(B,) lengths -> (B, steps) bool, True at every step t < its row's length, on the lengths' device."""
    return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)
