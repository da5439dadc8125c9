"""Encoder: source ids or feature vectors -> input layer (and the listener's pyramid) -> (bidirectional,
stacked, residual) RNN -> outputs and final states."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import ModelConfig
from .dropout import Dropout
from .inputs import INPUTS
from .listener import PyramidalListener
from .masks import length_mask
from .rnn import StackedRNN


@dataclass(frozen=True)
class FinalState:
    """The encoder's last real step, per layer, directions merged.

    hidden: (L_enc, B, He); cell: (L_enc, B, He) for LSTM, else None (None too where no bridge reads it).
    """

    hidden: Tensor
    cell: Tensor | None


@dataclass(frozen=True)
class EncoderOutput:
    """What the encoder hands on.

    outputs: (B, S, He) top-layer states (zeros at padded steps);
    mask: (B, S) bool, True at real tokens; final: per-layer final states;
    source_map: (B, S) the extended target id of each source position for a copy model, else None.
    He = 2 * encoder_hidden for a bidirectional encoder merged by concat, else encoder_hidden.
    """

    outputs: Tensor
    mask: Tensor
    final: FinalState
    source_map: Tensor | None = None

    def index_select(self, idx: Tensor) -> EncoderOutput:
        """Rows `idx` (K,) of the batch, e.g. to repeat each sentence per beam."""
        fin = self.final
        return EncoderOutput(self.outputs.index_select(0, idx), self.mask.index_select(0, idx),
                             FinalState(fin.hidden.index_select(1, idx),
                                        None if fin.cell is None else fin.cell.index_select(1, idx)),
                             None if self.source_map is None else self.source_map.index_select(0, idx))


class Encoder(nn.Module):
    """Input layer -> RNN stack, packed so padding never changes a state.

    A bidirectional encoder keeps both directions concatenated inside the stack (as nn.LSTM does)
    and merges them only on top, in `outputs` and in every layer's final state
    (concat -> 2H, sum -> H, mean -> H).
    """

    def __init__(self, cfg: ModelConfig, source_kind: str, source_size: int):
        """source_kind: data.source_type; source_size: the source vocabulary size or vector dimension."""
        super().__init__()
        self.input = INPUTS[source_kind](source_size, cfg.embedding_size)
        self.dropout = Dropout(cfg.dropout)
        self.pyramid = (PyramidalListener(cfg.cell, cfg.embedding_size, cfg.encoder_hidden, cfg.pyramid_layers,
                                          cfg.dropout) if cfg.pyramid_layers else None)
        self.rnn = StackedRNN(cfg.cell, cfg.embedding_size if self.pyramid is None else self.pyramid.output_size,
                              cfg.encoder_hidden, cfg.encoder_layers, cfg.bidirectional, cfg.dropout, cfg.residual)
        self.merge = cfg.bidirectional_merge if cfg.bidirectional else None
        # Only a recurrent decoder's copy or linear bridge reads the final cell state (see bridge.py).
        self.final_cell = not (cfg.decoder_type == "rnn" and cfg.bridge in ("hidden", "zero"))
        self.hidden_size = cfg.encoder_hidden
        self.num_layers = self.final_layers = cfg.encoder_layers
        self.output_size = cfg.encoder_hidden * (2 if self.merge == "concat" else 1)

    def _merge(self, x: Tensor) -> Tensor:
        """(..., 2H) forward;backward -> (..., He)."""
        if self.merge is None or self.merge == "concat":
            return x
        fwd, bwd = x[..., :self.hidden_size], x[..., self.hidden_size:]
        return fwd + bwd if self.merge == "sum" else (fwd + bwd) * 0.5

    def _merge_final(self, h: Tensor) -> Tensor:
        """(L*D, B, H) -> (L, B, He)."""
        if self.merge is None:
            return h
        h = h.reshape(self.num_layers, 2, h.size(1), h.size(2))
        return self._merge(torch.cat([h[:, 0], h[:, 1]], dim=-1))

    def forward(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        """src: (B, S) ids or (B, S, D) features; src_lengths: (B,) real lengths (>= 1). Returns EncoderOutput.

        With a pyramid the outputs and mask have ceil(S / 2**pyramid_layers) steps.
        """
        x = self.dropout(self.input(src))
        if self.pyramid is not None:
            x, src_lengths = self.pyramid(x, src_lengths)
        outputs, (h, c) = self.rnn(x, src_lengths, None, self.final_cell)
        mask = length_mask(src_lengths.to(src.device), x.size(1))
        final = FinalState(self._merge_final(h), None if c is None else self._merge_final(c))
        return EncoderOutput(self._merge(outputs), mask, final)
