"""A generated output: what it is, its score and where it looked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from seq2seq.models.decoder import StepOutput


@dataclass
class Hypothesis:
    """One generated sequence.

    output: token ids without </s> (a list), or the generated vectors (L, D) of a feature target;
    score: summed log-probability of the tokens (0 for vectors); attention: (steps, S) weights over the
    source as the encoder read it (one row per generated step, </s> included), or None; head_attention:
    (H, steps, S) each head's weights for a multi-head attention (`attention` is their mean), else None.
    """

    output: Any
    score: float
    attention: torch.Tensor | None = None
    head_attention: torch.Tensor | None = None


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
