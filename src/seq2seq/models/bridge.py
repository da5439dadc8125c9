"""Bridge: the encoder's final states -> the decoder's initial state."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .encoder import FinalState
from .linear import Linear


class Bridge(nn.Module):
    """Decoder initial state (hidden, cell), each (decoder_layers, B, Hd); cell None unless LSTM.

    copy:   the encoder's per-layer final states as they are (the config guarantees equal sizes
            and layer counts).
    hidden: the encoder's final hidden states as they are, an LSTM's cell state from zero: the book's
            encoder hands over h alone (Saito, Deep Learning from Scratch 2, ch. 7: `Encoder.forward`
            returns `hs[:, -1, :]`, `Decoder.forward` calls `lstm.set_state(h)`). With no cell state to
            keep, a CPU encoder runs its padded batch in one call (see `StackedRNN.forward`).
    zero:   zeros: the decoder starts from nothing and learns from attention or context feeding alone
            (speech teams report it works as well, and it is the only choice when sizes differ).
    linear: all encoder layers' final hidden states concatenated, (B, L_enc*He), one Linear to
            (B, L_dec*Hd) and tanh, split into the decoder layers - so any sizes and layer counts
            work and every decoder layer sees every encoder layer. The LSTM cell state gets its own
            Linear *without* tanh: a cell state is not bounded to (-1, 1), a hidden state is. An encoder
            without a cell state (a Transformer's: the mean of its outputs) gives the cell's Linear its
            hidden state to read.
    """

    def __init__(self, kind: str, cell: str, encoder_size: int, encoder_layers: int,
                 decoder_size: int, decoder_layers: int):
        super().__init__()
        self.kind = kind
        self.is_lstm = cell == "lstm"
        self.decoder_size = decoder_size
        self.decoder_layers = decoder_layers
        if kind == "linear":
            n_in, n_out = encoder_layers * encoder_size, decoder_layers * decoder_size
            self.hidden_proj = Linear(n_in, n_out)
            self.cell_proj = Linear(n_in, n_out) if self.is_lstm else None

    def _project(self, proj: nn.Linear, x: Tensor) -> Tensor:
        """(L_enc, B, He) -> (L_dec, B, Hd)."""
        batch = x.size(1)
        y = proj(x.transpose(0, 1).reshape(batch, -1))
        return y.view(batch, self.decoder_layers, self.decoder_size).transpose(0, 1).contiguous()

    def forward(self, final: FinalState) -> tuple[Tensor, Tensor | None]:
        """final: hidden/cell (L_enc, B, He). Returns (hidden, cell) each (L_dec, B, Hd)."""
        if self.kind == "copy":
            return final.hidden, final.cell if self.is_lstm else None
        if self.kind == "hidden":
            return final.hidden, (torch.zeros_like(final.hidden) if self.is_lstm else None)
        if self.kind == "zero":
            h = final.hidden
            zeros = h.new_zeros(self.decoder_layers, h.size(1), self.decoder_size)
            return zeros, (torch.zeros_like(zeros) if self.is_lstm else None)
        hidden = torch.tanh(self._project(self.hidden_proj, final.hidden))
        source = final.hidden if final.cell is None else final.cell
        cell = self._project(self.cell_proj, source) if self.is_lstm else None
        return hidden, cell
