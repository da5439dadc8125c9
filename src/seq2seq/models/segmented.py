"""Recurrent layers over right-padded sequences without packing: the rows, sorted by length, run in one
unpacked call per distinct length, each call taking over the states the previous one left.

A packed sequence sends a CPU LSTM through PyTorch's step-by-step path (two matmuls and the gate
arithmetic per step, each with its own autograd node), while an unpacked call is one oneDNN primitive
for all steps. Splitting the time axis at each distinct length gives exactly what packing computes: the
rows still running after a length go on from the states it left, the others stop there. Fewer, larger
calls win even with many distinct lengths, since each step of the packed path carries its own fixed costs
(figures: CHANGELOG.md, 0.2.0).

A bidirectional layer runs its backward direction the same way over each row reversed within its length
(a gather), then reverses the outputs back; layers of a bidirectional stack go one at a time, since each
reads both directions of the one below.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .dropout import dropout
from .kernel_plan import segment_choice

State = Tensor | tuple[Tensor, Tensor]
_FUNCTIONS = {"LSTM": torch.lstm, "GRU": torch.gru, "RNN_TANH": torch.rnn_tanh, "RNN_RELU": torch.rnn_relu}


def can_segment(rnn: nn.RNNBase, x: Tensor) -> bool:
    """Whether `run_segmented` replaces packing here: a batch-first layer on the CPU (cuDNN runs packed
    sequences in one call), unless the kernel probe measured packing faster for this layer's shape. Under CPU
    autocast segments always: the probe measured float32, and a packed LSTM does not run in bf16 there."""
    return (x.device.type == "cpu" and rnn.batch_first
            and (torch.is_autocast_enabled("cpu")
                 or segment_choice(rnn.mode, rnn.input_size, rnn.hidden_size, rnn.num_layers, rnn.bidirectional)))


@dataclass(frozen=True)
class _Plan:
    """Rows sorted longest first, and the calls over them: steps [start, end) for rows [0, rows)."""

    order: Tensor
    inverse: Tensor
    spans: list[tuple[int, int, int]]
    lengths: Tensor  # sorted, on the data's device

    @staticmethod
    def of(lengths: Tensor, device: torch.device) -> _Plan:
        lens = lengths.tolist()
        # Python's sort of a few hundred numbers costs far less than a call of torch's stable CPU argsort.
        order_list = sorted(range(len(lens)), key=lambda i: -lens[i])
        lens_sorted = [lens[i] for i in order_list]
        spans, start, rows = [], 0, len(lens)
        for end, ending in sorted(Counter(lens).items()):
            spans.append((start, end, rows))  # the rows [0, rows) are those at least `end` long
            start, rows = end, rows - ending
        order = torch.tensor(order_list)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.numel())
        return _Plan(order.to(device), inverse.to(device), spans, torch.tensor(lens_sorted, device=device))

    def reversal(self, steps: int) -> Tensor:
        """(B, T) time indices that reverse each sorted row within its length and keep its padding in place."""
        t = torch.arange(steps, device=self.lengths.device).unsqueeze(0)
        n = self.lengths.unsqueeze(1)
        return torch.where(t < n, n - 1 - t, t)


def _rows(state: State, idx: Tensor) -> State:
    return tuple(s.index_select(1, idx) for s in state) if isinstance(state, tuple) else state.index_select(1, idx)


def _run(call: Callable[[Tensor, State], tuple[Tensor, State]], x: Tensor, state: State,
         plan: _Plan) -> tuple[Tensor, State]:
    """One call per span on sorted rows x (B, T, I) from `state`. Returns outputs (B, T, H), zeros after each
    row's length, and each row's state at its last step, still sorted."""
    lstm = isinstance(state, tuple)
    outs, finals = [], []
    for start, end, rows in plan.spans:
        part = tuple(s[:, :rows] for s in state) if lstm else state[:, :rows]
        out, state = call(x[:rows, start:end], part)
        outs.append(nn.functional.pad(out, (0, 0, 0, 0, 0, x.size(0) - rows)))
        finals.append((rows, state))  # rows [next span's rows, rows) end here
    outputs = torch.cat(outs, 1)
    if plan.spans[-1][1] < x.size(1):
        outputs = nn.functional.pad(outputs, (0, 0, 0, x.size(1) - plan.spans[-1][1]))

    def final(k: int) -> Tensor:
        """The k-th state tensor (h, or c) of every row at its last step."""
        pieces, upto = [], 0
        for rows, st in reversed(finals):
            pieces.append((st[k] if lstm else st)[:, upto:rows])
            upto = rows
        return torch.cat(pieces, 1)

    return outputs, ((final(0), final(1)) if lstm else final(0))


def _direction(rnn: nn.RNNBase, layer: int, reverse: bool) -> Callable[[Tensor, State], tuple[Tensor, State]]:
    """One direction of one layer of `rnn` as a call on (x, state), by the function nn.LSTM/GRU/RNN itself uses."""
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")
    names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if rnn.bias else ())
    params = [getattr(rnn, f"{name}{suffix}") for name in names]
    fn = _FUNCTIONS[rnn.mode]

    def call(x: Tensor, state: State) -> tuple[Tensor, State]:
        if isinstance(state, tuple):
            out, h, c = fn(x, state, params, rnn.bias, 1, 0.0, rnn.training, False, True)
            return out, (h, c)
        return fn(x, state, params, rnn.bias, 1, 0.0, rnn.training, False, True)

    return call


def _bidirectional(rnn: nn.RNNBase, x: Tensor, state: State, plan: _Plan) -> tuple[Tensor, State]:
    """A bidirectional stack on sorted rows, layer by layer; state (2L, B, H) [each], as nn.LSTM orders it."""
    lstm = isinstance(state, tuple)
    reversal = plan.reversal(x.size(1))

    def flip(t: Tensor) -> Tensor:
        return t.gather(1, reversal.unsqueeze(-1).expand(-1, -1, t.size(-1)))

    finals = []
    for layer in range(rnn.num_layers):
        if layer > 0 and rnn.dropout > 0:
            x = dropout(x, rnn.dropout, rnn.training)
        rows = [2 * layer, 2 * layer + 1]
        part = [tuple(s[r:r + 1] for s in state) if lstm else state[r:r + 1] for r in rows]
        fwd, fwd_final = _run(_direction(rnn, layer, False), x, part[0], plan)
        bwd, bwd_final = _run(_direction(rnn, layer, True), flip(x), part[1], plan)
        x = torch.cat([fwd, flip(bwd)], -1)
        finals += [fwd_final, bwd_final]
    if lstm:
        return x, (torch.cat([f[0] for f in finals]), torch.cat([f[1] for f in finals]))
    return x, torch.cat(finals)


def run_segmented(rnn: nn.RNNBase, x: Tensor, lengths: Tensor,
                  hx: State | None) -> tuple[Tensor, State]:
    """`rnn(pack(x, lengths), hx)` unpacked, for a batch-first nn.RNN/LSTM/GRU.

    x: (B, T, I); lengths: (B,) in [1, T]; hx: (h0[, c0]) each (L*D, B, H) or None for zeros. Returns outputs
    (B, T, D*H), zeros after each row's length, and the states at each row's last real step, as nn.LSTM/GRU/RNN.
    """
    lstm = isinstance(rnn, nn.LSTM)
    plan = _Plan.of(lengths, x.device)
    x_sorted = x.index_select(0, plan.order)
    if hx is None:
        h0 = x.new_zeros(rnn.num_layers * (2 if rnn.bidirectional else 1), x.size(0), rnn.hidden_size)
        state = (h0, torch.zeros_like(h0)) if lstm else h0
    else:
        state = _rows(hx, plan.order)
    if rnn.bidirectional:
        outputs, final = _bidirectional(rnn, x_sorted, state, plan)
    else:
        outputs, final = _run(rnn, x_sorted, state, plan)
    return outputs.index_select(0, plan.inverse), _rows(final, plan.inverse)
