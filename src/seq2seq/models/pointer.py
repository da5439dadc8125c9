"""Copy attention: the pointer-generator of See et al. (2017), "Get To The Point" (after Vinyals et al. 2015
and Gu et al. 2016).

At each step a generation probability p_gen = sigmoid(w . [c_t; h_t; x_t] + b) (attention context,
decoder state, decoder input) mixes the softmax over the target vocabulary with the attention weights
over the source positions:

    P(w) = p_gen P_vocab(w) + (1 - p_gen) sum_{i: source_i = w} a_i

Source words outside the target vocabulary are scored too, through an extended vocabulary of
V + S ids for a batch whose sources have S positions: a word at source position i that the target
vocabulary lacks is id V + (the first position it occurs at). The source tensor of a copy model carries
that map beside the source ids (`data.copying` builds both from the words), the scores it emits are
log-probabilities over the V + S ids (so cross-entropy, greedy, sampling and beam search use them as
they use logits), and an extended id read back as the next input becomes <unk>.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..data.vocab import UNK
from .linear import Linear

# The floor of a probability before its log: ids no source position maps to have probability 0.
_FLOOR = 1e-12


class PointerGenerator(nn.Module):
    """Mixes a TokenHead's vocabulary scores (B, [T,] V) with copying from the source into (B, [T,] V + S)."""

    def __init__(self, vocab_size: int, gate_size: int):
        super().__init__()
        self.vocab_size = vocab_size
        self.gate = Linear(gate_size, 1)

    @staticmethod
    def split(src: Tensor) -> tuple[Tensor, Tensor]:
        """A copy model's source (B, S, 2) -> source ids (B, S) and the extended target ids (B, S)."""
        if not isinstance(src, Tensor) or src.dim() != 3 or src.size(2) != 2 or src.dtype.is_floating_point:
            shape = tuple(src.shape) if isinstance(src, Tensor) else type(src).__name__
            raise ValueError(f"src of a copy model must be (batch, length, 2) integer ids: each source id beside "
                             f"its id in the extended target vocabulary, got {shape}")
        return src[..., 0], src[..., 1]

    def known(self, ids: Tensor) -> Tensor:
        """Extended ids (copied words) read back as input -> <unk>; ids of the vocabulary unchanged."""
        return ids.masked_fill(ids >= self.vocab_size, UNK)

    def forward(self, logits: Tensor, gate_input: Tensor, weights: Tensor, source_map: Tensor) -> Tensor:
        """logits: (B, [T,] V); gate_input: (B, [T,] G); weights: (B, [T,] S); source_map: (B, S).

        Returns log P (B, [T,] V + S) over the extended vocabulary (float32).
        """
        p_gen = torch.sigmoid(self.gate(gate_input).float())
        vocab = torch.softmax(logits.float(), -1) * p_gen
        copied = weights.float() * (1.0 - p_gen)
        index = source_map if weights.dim() == 2 else source_map.unsqueeze(1).expand_as(weights)
        mixed = torch.cat([vocab, vocab.new_zeros(weights.shape)], -1).scatter_add(-1, index, copied)
        return mixed.clamp_min(_FLOOR).log()
