"""One time step of an LSTM, GRU or tanh RNN layer, with its matmuls on `linear`'s kernel.

torch's CPU cells (`torch.lstm_cell` & co.) are two BLAS matmuls and the gates' elementwise ops; these are
the same equations in the same order (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al.
2000; Cho et al. 2014), with the matmuls through `models/linear.py`, which on CPUs where oneDNN outruns the
BLAS makes the step-by-step decoder loop (input feeding) faster. Elsewhere, and where the kernel probe
(`seq2seq.kernels`) measured torch's own cells faster for the shape, torch's cells run.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .kernel_plan import cell_choice
from .linear import onednn_applies, onednn_linear

TORCH_CELLS = {"rnn": torch.rnn_tanh_cell, "lstm": torch.lstm_cell, "gru": torch.gru_cell}
Weights = tuple[Tensor, Tensor, Tensor, Tensor]  # weight_ih, weight_hh, bias_ih, bias_hh


def _gates(x: Tensor, h: Tensor, w: Weights) -> Tensor:
    """W_hh h + b_hh + W_ih x + b_ih, every gate's pre-activation side by side."""
    return onednn_linear(h, w[1], w[3]) + onednn_linear(x, w[0], w[2])


def _lstm(x: Tensor, h: Tensor, c: Tensor, w: Weights) -> tuple[Tensor, Tensor]:
    i, f, g, o = _gates(x, h, w).chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _gru(x: Tensor, h: Tensor, w: Weights) -> Tensor:
    xr, xz, xn = onednn_linear(x, w[0], w[2]).chunk(3, 1)
    hr, hz, hn = onednn_linear(h, w[1], w[3]).chunk(3, 1)
    reset, update = torch.sigmoid(hr + xr), torch.sigmoid(hz + xz)
    new = torch.tanh(xn + reset * hn)
    return (h - new) * update + new


def takes_onednn_cell(cell: str, x: Tensor, h: Tensor, w: Weights) -> bool:
    """Whether a cell step on these inputs runs its matmuls on oneDNN (else torch's own cell)."""
    if not onednn_applies(x, w[0]):
        return False
    return cell_choice(cell, x.size(-1), h.size(-1)) is not False


def cell_step(cell: str, x: Tensor, h: Tensor, c: Tensor | None, w: Weights) -> tuple[Tensor, Tensor | None]:
    """x: (B, I); h, c: (B, H) (c None unless LSTM) -> the new (h, c)."""
    return step_by(takes_onednn_cell(cell, x, h, w), cell, x, h, c, w)


def step_by(onednn: bool, cell: str, x: Tensor, h: Tensor, c: Tensor | None,
            w: Weights) -> tuple[Tensor, Tensor | None]:
    """`cell_step` with its matmuls on oneDNN (for inputs `onednn_applies` accepts) or by torch's own cell."""
    if not onednn:
        if cell == "lstm":
            return TORCH_CELLS["lstm"](x, (h, c), *w)
        return TORCH_CELLS[cell](x, h, *w), None
    if cell == "lstm":
        return _lstm(x, h, c, w)
    if cell == "gru":
        return _gru(x, h, w), None
    return torch.tanh(_gates(x, h, w)), None
