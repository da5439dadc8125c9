"""The ONNX form of the RNN stack's masked layer (`seq2seq::masked_rnn`): ONNX's own RNN, GRU or LSTM operator
with `sequence_lens`, which stops each row's state at its length and writes zeros past it - exactly the
packed-sequence semantics the masked path has in PyTorch.

Only the weights' layouts differ: PyTorch orders the LSTM gates i, f, g, o and the GRU gates r, z, n; ONNX
orders them i, o, f, c and z, r, h, and concatenates the input and recurrent biases. PyTorch's GRU applies
the reset gate after the recurrent matmul, which is ONNX's `linear_before_reset=1`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.onnx import symbolic_helper

OPSET = 17  # onnxruntime 1.14 and later run it
_OPS = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}
_GATE_ORDER = {"rnn": [0], "gru": [1, 0, 2], "lstm": [0, 3, 1, 2]}  # ONNX's gate i from PyTorch's gate _GATE_ORDER[i]


def _reordered(g: Any, weight: Any, cell: str) -> Any:
    """A (gates*H, ...) PyTorch weight or bias with its gate blocks in ONNX's order."""
    order = _GATE_ORDER[cell]
    if len(order) == 1:
        return weight
    size = symbolic_helper._get_tensor_sizes(weight)[0] // len(order)
    blocks = g.op("Split", weight, g.op("Constant", value_t=torch.tensor([size] * len(order))), axis_i=0,
                  outputs=len(order))
    return g.op("Concat", *[blocks[i] for i in order], axis_i=0)


def _per_direction(g: Any, tensors: list[Any]) -> Any:
    """One tensor per direction -> stacked on a new first axis (num_directions, ...)."""
    axis = g.op("Constant", value_t=torch.tensor([0]))
    return g.op("Concat", *[g.op("Unsqueeze", t, axis) for t in tensors], axis_i=0)


def masked_rnn_symbolic(g: Any, x: Any, lengths: Any, h0: Any, c0: Any, weights: Any, cell: Any) -> tuple[Any, Any]:
    """`masked_rnn(x, lengths, h0, c0, weights, cell)` as ONNX nodes: (outputs (B, S, D*H), final states)."""
    cell = symbolic_helper._maybe_get_const(cell, "s")
    ws = symbolic_helper._unpack_list(weights)
    directions = len(ws) // 4
    hidden = symbolic_helper._get_tensor_sizes(ws[1])[1]
    w = _per_direction(g, [_reordered(g, ws[4 * d], cell) for d in range(directions)])
    r = _per_direction(g, [_reordered(g, ws[4 * d + 1], cell) for d in range(directions)])
    b = _per_direction(g, [g.op("Concat", _reordered(g, ws[4 * d + 2], cell), _reordered(g, ws[4 * d + 3], cell),
                                axis_i=0) for d in range(directions)])
    attributes: dict[str, Any] = {"hidden_size_i": hidden,
                                  "direction_s": "bidirectional" if directions == 2 else "forward"}
    if cell == "gru":
        attributes["linear_before_reset_i"] = 1
    inputs = [g.op("Transpose", x, perm_i=[1, 0, 2]), w, r, b, g.op("Cast", lengths, to_i=6), h0]  # 6: int32
    if cell == "lstm":
        y, y_h, y_c = g.op("LSTM", *inputs, c0, outputs=3, **attributes)
        final = g.op("Concat", y_h, y_c, axis_i=0)
    else:
        y, final = g.op(_OPS[cell], *inputs, outputs=2, **attributes)
    # Y is (S, D, B, H): to (B, S, D*H), the directions side by side as PyTorch returns them.
    y = g.op("Reshape", g.op("Transpose", y, perm_i=[2, 0, 1, 3]), g.op("Constant", value_t=torch.tensor([0, 0, -1])))
    return y, final


def register() -> None:
    """Make the TorchScript-based exporter write `seq2seq::masked_rnn` as above."""
    torch.onnx.register_custom_op_symbolic("seq2seq::masked_rnn", masked_rnn_symbolic, OPSET)
