"""Unidirectional recurrent layers over right-padded sequences without packing: the rows, sorted by length,
run in one unpacked call per distinct length, each call taking over the states the previous one left.

A packed sequence sends a CPU LSTM through PyTorch's step-by-step path (two matmuls and the gate
arithmetic per step, each with its own autograd node), while an unpacked call is one oneDNN primitive
for all steps. Splitting the time axis at each distinct length gives exactly what packing computes: the
rows still running after a length go on from the states it left, the others stop there. Fewer, larger
calls win even with many distinct lengths: forward + backward of an LSTM on one core, against packing,
1.6x at batch 128, 16 -> 128, 3-7 steps (5 lengths); 1.35x at 64, 256 -> 256, 5-30 steps (22 lengths);
1.5x at 64, 256 -> 256, 1-60 steps (39 lengths).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def can_segment(rnn: nn.RNNBase, x: Tensor) -> bool:
    """Whether `run_segmented` replaces packing here: a unidirectional batch-first layer on the CPU (cuDNN
    runs packed sequences in one call)."""
    return x.device.type == "cpu" and not rnn.bidirectional and rnn.batch_first


def run_segmented(rnn: nn.RNNBase, x: Tensor, lengths: Tensor,
                  hx: Tensor | tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
    """`rnn(pack(x, lengths), hx)` unpacked, for a unidirectional batch-first nn.RNN/LSTM/GRU.

    x: (B, T, I); lengths: (B,) in [1, T]; hx: (h0[, c0]) each (L, B, H) or None for zeros. Returns outputs
    (B, T, H), zeros after each row's length, and the states at each row's last real step, as nn.LSTM/GRU/RNN.
    """
    lstm = isinstance(rnn, nn.LSTM)
    lens = lengths.tolist()
    # Python's sort of a few hundred numbers takes microseconds; torch.argsort's stable CPU sort ~0.1 ms.
    order_list = sorted(range(len(lens)), key=lambda i: -lens[i])
    lens_sorted = [lens[i] for i in order_list]
    order = torch.tensor(order_list)
    idx = order.to(x.device)
    x_sorted = x.index_select(0, idx)
    if hx is None:
        h0 = x.new_zeros(rnn.num_layers, x.size(0), rnn.hidden_size)
        state = (h0, torch.zeros_like(h0)) if lstm else h0
    else:
        state = tuple(s.index_select(1, idx) for s in hx) if lstm else hx.index_select(1, idx)
    outs, finals, start = [], [], 0
    for end in sorted(set(lens_sorted)):
        rows = sum(1 for n in lens_sorted if n >= end)  # sorted longest first: these are rows [0, rows)
        part = tuple(s[:, :rows] for s in state) if lstm else state[:, :rows]
        out, state = rnn(x_sorted[:rows, start:end], part)
        outs.append(nn.functional.pad(out, (0, 0, 0, 0, 0, x.size(0) - rows)))
        finals.append((rows, state))  # rows [next segment's rows, rows) end here
        start = end
    outputs = torch.cat(outs, 1)
    if start < x.size(1):
        outputs = nn.functional.pad(outputs, (0, 0, 0, x.size(1) - start))
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel())
    inverse = inverse.to(x.device)

    def final(k: int) -> Tensor:
        """The k-th state tensor (h, or c) of every row at its last step, in the batch's order."""
        pieces, upto = [], 0
        for rows, st in reversed(finals):
            s = st[k] if lstm else st
            pieces.append(s[:, upto:rows])
            upto = rows
        return torch.cat(pieces, 1).index_select(1, inverse)

    outputs = outputs.index_select(0, inverse)
    return outputs, ((final(0), final(1)) if lstm else final(0))
