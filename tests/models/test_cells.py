"""Cell steps on oneDNN's matmul equal torch's cells, values and gradients."""

import pytest
import torch

from seq2seq.models import linear as linear_module
from seq2seq.models.cells import TORCH_CELLS, cell_step


@pytest.mark.skipif(linear_module._OP is None, reason="this torch build has no oneDNN linear kernel")
@pytest.mark.parametrize("cell,gates", [("lstm", 4), ("gru", 3), ("rnn", 1)])
def test_cell_step_equals_torch_cell(cell, gates):
    torch.manual_seed(0)
    x, h = torch.randn(5, 6, requires_grad=True), torch.randn(5, 4, requires_grad=True)
    c = torch.randn(5, 4, requires_grad=True) if cell == "lstm" else None
    w = tuple((torch.randn(*shape) * 0.5).requires_grad_() for shape in
              ((gates * 4, 6), (gates * 4, 4), (gates * 4,), (gates * 4,)))
    leaves = [x, h] + ([c] if c is not None else []) + list(w)

    def grads(out):
        total = sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in out if o is not None)
        return torch.autograd.grad(total, leaves)

    ours = cell_step(cell, x, h, c, w)
    theirs = (TORCH_CELLS[cell](x, (h, c), *w) if cell == "lstm" else (TORCH_CELLS[cell](x, h, *w), None))
    for a, b in zip(ours, theirs, strict=True):
        if b is None:
            assert a is None
        else:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(grads(ours), grads(theirs), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_float64_takes_torchs_cell():
    x, h, c = (torch.randn(2, 3, dtype=torch.float64) for _ in range(3))
    w = (torch.randn(12, 3, dtype=torch.float64), torch.randn(12, 3, dtype=torch.float64),
         torch.randn(12, dtype=torch.float64), torch.randn(12, dtype=torch.float64))
    ours = cell_step("lstm", x, h, c, w)
    theirs = torch.lstm_cell(x, (h, c), *w)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
