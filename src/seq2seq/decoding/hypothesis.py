"""A generated output: what it is, its score and where it looked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Hypothesis:
    """One generated sequence.

    output: token ids without </s> (a list), or the generated vectors (L, D) of a feature target;
    score: summed log-probability of the tokens (0 for vectors); attention: (steps, S) weights over the
    source as the encoder read it (one row per generated step, </s> included; (steps, N, S) per head
    with N attention heads), or None.
    """

    output: Any
    score: float
    attention: torch.Tensor | None = None
