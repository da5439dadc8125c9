"""A stack of recurrent layers (RNN, LSTM or GRU), optionally bidirectional and residual.

Shared by the encoder and the decoder. Three entry points over the same weights:
`forward` runs whole (optionally packed) sequences, `step` advances one time step of a
unidirectional stack with cell functions (`cells.py`: torch's `torch.lstm_cell` & co., or the same
equations on oneDNN's matmul), faster per step than calling `nn.LSTM` on a length-1 sequence, which
pays a whole layer call's fixed costs, and `forward_masked` gives `forward`'s results on padded sequences
without packing, one `seq2seq::masked_rnn` operator per layer, which is what the ONNX exporter traces
(packing's batch sizes depend on the data, so a packed sequence cannot be part of a graph).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .cells import TORCH_CELLS, cell_step
from .dropout import dropout
from .masks import length_mask
from .precision import lstm_needs_fp32
from .segmented import can_segment, run_segmented

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

# (hidden, cell): each (layers * directions, B, H), in PyTorch's layout; cell is None unless LSTM.
RecurrentState = tuple[Tensor, "Tensor | None"]


@torch.library.custom_op("seq2seq::masked_rnn", mutates_args=())
def masked_rnn(x: Tensor, lengths: Tensor, h0: Tensor, c0: Tensor | None, weights: list[Tensor],
               cell: str) -> tuple[Tensor, Tensor]:
    """One recurrent layer, one or both directions, over padded sequences: a row's state stops changing
    after its last real step, so each direction sees exactly what a packed sequence shows it.

    x: (B, S, I); lengths: (B,) in [1, S]; h0, c0: (D, B, H) initial states (c0 None unless LSTM);
    weights: weight_ih, weight_hh, bias_ih, bias_hh for each of the D directions (forward, then backward).
    Returns the outputs (B, S, D*H), zeros at padded steps, and the final states: (D, B, H) hidden, with
    the (D, B, H) cell states after them for LSTM, so (2D, B, H).
    """
    fn = TORCH_CELLS[cell]
    real = length_mask(lengths, x.size(1)).unsqueeze(-1)
    outputs, hs, cs = [], [], []
    for d in range(len(weights) // 4):
        w = weights[4 * d: 4 * d + 4]
        h, c = h0[d], None if c0 is None else c0[d]
        out = x.new_zeros(x.size(0), x.size(1), h.size(-1))
        for t in range(x.size(1) - 1, -1, -1) if d else range(x.size(1)):
            keep = real[:, t]
            if c is not None:
                h_new, c_new = fn(x[:, t], (h, c), *w)
                c = torch.where(keep, c_new, c)
            else:
                h_new = fn(x[:, t], h, *w)
            h = torch.where(keep, h_new, h)
            out[:, t] = h_new * keep
        outputs.append(out)
        hs.append(h)
        cs.append(c)
    final = torch.stack(hs + (cs if c0 is not None else []))
    return torch.cat(outputs, -1), final


@masked_rnn.register_fake
def _(x: Tensor, lengths: Tensor, h0: Tensor, c0: Tensor | None, weights: list[Tensor],
      cell: str) -> tuple[Tensor, Tensor]:
    states = h0.size(0) * (1 if c0 is None else 2)
    return x.new_empty(x.size(0), x.size(1), h0.size(0) * h0.size(2)), h0.new_empty(states, *h0.shape[1:])


def _map(seq: Tensor | PackedSequence, fn) -> Tensor | PackedSequence:
    """Apply an elementwise fn to a tensor or to the data of a packed sequence."""
    if isinstance(seq, PackedSequence):
        return PackedSequence(fn(seq.data), seq.batch_sizes, seq.sorted_indices, seq.unsorted_indices)
    return fn(seq)


def _add(a: Tensor | PackedSequence, b: Tensor | PackedSequence) -> Tensor | PackedSequence:
    if isinstance(a, PackedSequence):
        return PackedSequence(a.data + b.data, a.batch_sizes, a.sorted_indices, a.unsorted_indices)
    return a + b


class StackedRNN(nn.Module):
    """`num_layers` recurrent layers; dropout between layers; residual from layer 2 up.

    Without residuals the whole stack is ONE `nn.LSTM/GRU/RNN` module (one fused call per
    sequence). With residuals each layer is its own module: layer i >= 2 computes
    `out_i = rnn_i(dropout(out_{i-1})) + out_{i-1}`. Inside the stack the two directions of a
    bidirectional layer stay concatenated (2H), exactly as `nn.LSTM` feeds its upper layers, so
    every residual adds tensors of one size (2H + 2H, or H + H); directions are merged
    (concat/sum/mean) only on top, by the encoder.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, residual: bool = False):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; allowed: {', '.join(CELLS)}")
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.directions = 2 if bidirectional else 1
        self.output_size = hidden_size * self.directions
        self.residual = residual and num_layers > 1
        self.dropout = dropout
        rnn = CELLS[cell]
        if self.residual:
            self.layers = nn.ModuleList(
                rnn(input_size if i == 0 else self.output_size, hidden_size, 1, batch_first=True,
                    bidirectional=bidirectional) for i in range(num_layers))
        else:
            self.layers = nn.ModuleList([rnn(input_size, hidden_size, num_layers, batch_first=True,
                                             dropout=dropout if num_layers > 1 else 0.0,
                                             bidirectional=bidirectional)])
        # (module, parameter-name suffix) per layer, for the step and masked paths; looked up by name on every
        # call so .to()/.double() and weight loading are always seen.
        self._step_weights = [(i, "_l0") if self.residual else (0, f"_l{i}") for i in range(num_layers)]

    @property
    def is_lstm(self) -> bool:
        return self.cell == "lstm"

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: RecurrentState | None = None,
                final_cell: bool = True) -> tuple[Tensor, RecurrentState]:
        """Run whole sequences.

        x: (B, T, I); lengths: (B,) real lengths or None (then nothing is packed);
        state: (h0, c0) each (L*D, B, H) or None for zeros.
        Returns outputs (B, T, D*H) (zeros at padded steps when packed) and the final
        (h_n, c_n) each (L*D, B, H), taken at each sequence's last real step; c_n is None unless LSTM, and
        may be None when `final_cell` is False (the caller does not read it).
        """
        if self.is_lstm and lstm_needs_fp32(x):
            # This CPU has no bf16 LSTM kernel (see models/precision.py): the stack runs in fp32 and
            # everything around it stays under bf16 autocast.
            with torch.autocast("cpu", enabled=False):
                return self._forward(x.float(), lengths, None if state is None
                                     else (state[0].float(), state[1].float()), final_cell)
        return self._forward(x, lengths, state, final_cell)

    def _forward(self, x: Tensor, lengths: Tensor | None, state: RecurrentState | None,
                 final_cell: bool) -> tuple[Tensor, RecurrentState]:
        if lengths is not None and torch.onnx.is_in_onnx_export():
            return self.forward_masked(x, lengths, state)
        seq: Tensor | PackedSequence = x
        if lengths is not None and bool((lengths == x.size(1)).all()):
            lengths = None  # no padding: packing would only cost time
        if lengths is not None and self.num_layers == 1 and self.directions == 1 and not (self.is_lstm and final_cell):
            return self._forward_to_last(x, lengths, state)
        segmented = lengths is not None and can_segment(self.layers[0], x)
        if lengths is not None and not segmented:
            seq = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)

        def layer_call(layer: nn.RNNBase, inp: Tensor | PackedSequence, layer_hx: Tensor | tuple | None) -> tuple:
            return run_segmented(layer, inp, lengths, layer_hx) if segmented else layer(inp, layer_hx)

        hx = None if state is None else (state if self.is_lstm else state[0])
        if not self.residual:
            seq, final = layer_call(self.layers[0], seq, hx)
            h, c = final if self.is_lstm else (final, None)
        else:
            hs, cs = [], []
            d = self.directions
            for i, layer in enumerate(self.layers):
                layer_hx = None
                if state is not None:
                    layer_hx = ((state[0][i * d:(i + 1) * d], state[1][i * d:(i + 1) * d])
                                if self.is_lstm else state[0][i * d:(i + 1) * d])
                inp = seq
                if i > 0 and self.dropout > 0:
                    inp = _map(seq, lambda t: dropout(t, self.dropout, self.training))
                out, final = layer_call(layer, inp, layer_hx)
                seq = _add(out, seq) if i > 0 else out
                if self.is_lstm:
                    hs.append(final[0])
                    cs.append(final[1])
                else:
                    hs.append(final)
            h, c = torch.cat(hs, 0), (torch.cat(cs, 0) if self.is_lstm else None)
        if lengths is not None and not segmented:
            seq = pad_packed_sequence(seq, batch_first=True, total_length=x.size(1))[0]
        return seq, (h, c)

    def _forward_to_last(self, x: Tensor, lengths: Tensor,
                         state: RecurrentState | None) -> tuple[Tensor, RecurrentState]:
        """One layer, one direction, no final cell state wanted: one call over the whole padded batch. A row's
        outputs up to its length are what packing gives (a step never reads a later one), and its final hidden
        state is its output at its last real step; only an LSTM's cell state there is not in the outputs. One
        call instead of one per distinct length saves the fixed cost of the others, a large share of a small step."""
        hx = None if state is None else (state if self.is_lstm else state[0])
        out, _ = self.layers[0](x, hx)
        lengths = lengths.to(x.device)
        out = out * length_mask(lengths, x.size(1)).unsqueeze(-1).to(out.dtype)
        h = out[torch.arange(x.size(0), device=x.device), lengths - 1].unsqueeze(0)
        return out, (h, None)

    def forward_masked(self, x: Tensor, lengths: Tensor,
                       state: RecurrentState | None = None) -> tuple[Tensor, RecurrentState]:
        """`forward` on padded sequences without packing: the same outputs and final states, each layer one
        `masked_rnn` operator (an exporter maps it to ONNX's RNN/GRU/LSTM with `sequence_lens`).

        x: (B, T, I); lengths: (B,); state: (h0, c0) each (L*D, B, H) or None for zeros.
        """
        d, batch = self.directions, x.size(0)
        h0 = state[0] if state is not None else x.new_zeros(self.num_layers * d, batch, self.hidden_size)
        c0 = (state[1] if state is not None else torch.zeros_like(h0)) if self.is_lstm else None
        seq, hs, cs = x, [], []
        for i, (m, suffix) in enumerate(self._step_weights):
            mod = self.layers[m]
            weights = [getattr(mod, f"{name}{suffix}{rev}") for rev in ("", "_reverse")[:d]
                       for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            inp = dropout(seq, self.dropout, self.training) if i > 0 and self.dropout > 0 else seq
            rows = slice(i * d, (i + 1) * d)
            out, final = masked_rnn(inp, lengths.to(x.device), h0[rows], None if c0 is None else c0[rows],
                                    weights, self.cell)
            seq = out + seq if (self.residual and i > 0) else out
            hs.append(final[:d])
            cs.append(final[d:])
        return seq, (torch.cat(hs), torch.cat(cs) if self.is_lstm else None)

    def step(self, x: Tensor, state: RecurrentState) -> tuple[Tensor, RecurrentState]:
        """One time step of a unidirectional stack, same weights as `forward`.

        x: (B, I); state: (h, c) each (L, B, H), c None unless LSTM.
        Returns the top layer's output (B, H) and the new (h, c) each (L, B, H).
        """
        if self.directions != 1:
            raise ValueError("StackedRNN.step needs a unidirectional stack")
        h0, c0 = state
        hs, cs = [], []
        inp = x
        for i, (m, suffix) in enumerate(self._step_weights):
            mod = self.layers[m]
            w = (getattr(mod, "weight_ih" + suffix), getattr(mod, "weight_hh" + suffix),
                 getattr(mod, "bias_ih" + suffix), getattr(mod, "bias_hh" + suffix))
            layer_in = dropout(inp, self.dropout, self.training) if i > 0 and self.dropout > 0 else inp
            h, c = cell_step(self.cell, layer_in, h0[i], c0[i] if self.is_lstm else None, w)
            if self.is_lstm:
                cs.append(c)
            hs.append(h)
            inp = h + inp if (self.residual and i > 0) else h
        return inp, (torch.stack(hs), torch.stack(cs) if self.is_lstm else None)
