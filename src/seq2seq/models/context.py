"""Context feeding: how the encoder's fixed context vector reaches the decoder.

init:  only through the decoder's initial state (the bridge) - the encoder-decoder of Sutskever et
       al. (2014), where the context is the last hidden state and nothing else.
input: also concatenated to the decoder's input at every step (Cho et al. 2014), so it cannot fade
       over a long output.
peeky: to every input and to the output layer as well - the "peeky" decoder of the book (Saito,
       Deep Learning from Scratch 2, ch. 7), after Cho et al. (2014), which conditions both the state
       update and the output on the summary.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _along(fixed_context: Tensor, like: Tensor) -> Tensor:
    """(B, C) -> (B, C) for a step (like: (B, X)) or (B, T, C) for a sequence (like: (B, T, X))."""
    return fixed_context if like.dim() == 2 else fixed_context.unsqueeze(1).expand(-1, like.size(1), -1)


class ContextFeeding:
    """Joins the fixed context vector (B, C) to decoder inputs and pre-outputs as `mode` says."""

    def __init__(self, mode: str, context_size: int):
        self.mode = mode
        self.input_size = context_size if mode in ("input", "peeky") else 0
        self.output_size = context_size if mode == "peeky" else 0

    def join_input(self, x: Tensor, fixed_context: Tensor) -> Tensor:
        """Decoder input (B, [T,] I) -> (B, [T,] I + input_size)."""
        return x if not self.input_size else torch.cat([x, _along(fixed_context, x)], dim=-1)

    def join_output(self, pre: Tensor, fixed_context: Tensor) -> Tensor:
        """Pre-output (B, [T,] P) -> (B, [T,] P + output_size)."""
        return pre if not self.output_size else torch.cat([pre, _along(fixed_context, pre)], dim=-1)

