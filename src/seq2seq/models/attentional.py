"""After attention: the attentional output the output layer reads, and input feeding.

Attentional output (`model.attention_output`):
  concat: the output layer reads [c_t; h_t], the attention context beside the decoder state -
          Saito, Deep Learning from Scratch 2, ch. 8, and Bahdanau et al. (2015), where the context joins the readout.
  tanh:   h~_t = tanh(W_c [c_t; h_t]), the "attentional hidden state" of Luong et al. (2015), and
          the output layer reads h~_t.
Input feeding (`model.input_feeding`, Luong et al. 2015): the previous step's attentional vector
joins the next step's input, so the decoder knows what it attended to - h~ with tanh; with concat the
attention context c, as the Listen, Attend and Spell speller does (Chan et al. 2016). Zeros at step 1.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .linear import Linear


class AttentionalOutput(nn.Module):
    """(attention context c, decoder state h) -> (what the output layer reads, what input feeding passes on)."""

    def __init__(self, kind: str, context_size: int, hidden_size: int):
        super().__init__()
        self.kind = kind
        if kind == "tanh":
            self.combine = Linear(context_size + hidden_size, hidden_size, bias=False)
            self.size, self.feed_size = hidden_size, hidden_size
        else:
            self.size, self.feed_size = context_size + hidden_size, context_size

    def forward(self, attention_context: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """c: (B, [T,] C), h: (B, [T,] H) -> pre-output (B, [T,] size), feed (B, [T,] feed_size)."""
        joined = torch.cat([attention_context, h], dim=-1)
        if self.kind == "tanh":
            h_tilde = torch.tanh(self.combine(joined))
            return h_tilde, h_tilde
        return joined, attention_context


class InputFeeding:
    """The previous step's attentional vector (B, size) joins the next decoder input."""

    def __init__(self, size: int):
        self.size = size

    def initial(self, batch: int, like: Tensor) -> Tensor:
        """Zeros (B, size) for the first step."""
        return like.new_zeros(batch, self.size)

    @staticmethod
    def join(x: Tensor, feed: Tensor) -> Tensor:
        """Decoder input (B, I) -> (B, I + size)."""
        return torch.cat([x, feed], dim=-1)
