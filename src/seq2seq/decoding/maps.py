"""Attention maps as a search keeps them: one tensor per step holding the mean and, for multi-head attention,
each head, so that beam reordering moves both together."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..models.decoder import StepOutput
from ..search.hypothesis import Hypothesis


def step_maps(out: StepOutput) -> Tensor | None:
    """A step's attention as a search keeps it, one tensor per step: (B, S), or (B, 1 + H, S) - the heads'
    mean, then each head - for multi-head attention; None without attention."""
    if out.attention is None:
        return None
    if out.head_attention is None:
        return out.attention.float()
    return torch.cat([out.attention.unsqueeze(1), out.head_attention], 1).float()


def with_maps(output: Any, score: float, maps: Tensor | None) -> Hypothesis:
    """A Hypothesis from one row's kept maps, (steps, S) or (steps, 1 + H, S) as `step_maps` made them."""
    if maps is None or maps.dim() == 2:
        return Hypothesis(output, score, None if maps is None else maps.clone())
    return Hypothesis(output, score, maps[:, 0].clone(), maps[:, 1:].transpose(0, 1).clone())
