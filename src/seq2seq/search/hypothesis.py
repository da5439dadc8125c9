"""A generated output: what it is, its score and where it looked (the same for the PyTorch and the ONNX engine)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Hypothesis:
    """One generated sequence.

    output: token ids without </s> (a list), or the generated vectors (L, D) of a feature target;
    score: summed log-probability of the tokens (0 for vectors); attention: (steps, S) weights over the
    source as the encoder read it (one row per generated step, </s> included; a torch tensor or a numpy
    array, as the engine made it), or None; head_attention: (H, steps, S) each head's weights for a multi-head
    attention (`attention` is their mean), else None.
    """

    output: Any
    score: float
    attention: Any = None
    head_attention: Any = None
