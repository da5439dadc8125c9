"""Greedy search: the most likely output at every step (the deterministic generation of Saito, Deep Learning
from Scratch 2)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..config import DecodeConfig
from ..search.hypothesis import Hypothesis
from .stepping import run_steps


@torch.inference_mode()
def greedy(model: torch.nn.Module, src: Tensor, src_lengths: Tensor, options: DecodeConfig,
           keep_attention: bool = False) -> list[Hypothesis]:
    """One hypothesis per row: the head's choice fed back until it ends the row or the row's cap is reached.

    src: (B, S) ids or (B, S, D) features; src_lengths: (B,). Token targets stop at </s> (barred before
    decode.min_length); vector targets emit as many vectors as decode.feature_length says.
    """
    caps, use_stop = model.head.caps(src_lengths, options)
    return run_steps(model, src, src_lengths, caps, use_stop,
                     lambda scores, step: model.head.choose(scores, step, options),
                     compact=True, keep_attention=keep_attention)
