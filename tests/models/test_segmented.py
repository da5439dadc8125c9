"""Layers run per distinct length without packing give packing's outputs, states and gradients."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seq2seq.models import rnn as rnn_module
from seq2seq.models.rnn import StackedRNN
from seq2seq.models.segmented import can_segment, run_segmented


def _packed(rnn, x, lengths, hx):
    out, final = rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False), hx)
    return pad_packed_sequence(out, batch_first=True, total_length=x.size(1))[0], final


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("initial", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])  # float32: oneDNN's kernels on the CPU
def test_segmented_equals_packed(cls, layers, bidirectional, initial, dtype):
    torch.manual_seed(0)
    rnn = cls(5, 7, layers, batch_first=True, bidirectional=bidirectional).to(dtype)
    x = torch.randn(6, 9, 5, dtype=dtype, requires_grad=True)
    lengths = torch.tensor([3, 9, 1, 3, 5, 8])
    h0 = torch.randn(layers * (2 if bidirectional else 1), 6, 7, dtype=dtype)
    hx = ((h0, torch.randn_like(h0)) if cls is nn.LSTM else h0) if initial else None
    results = [_packed(rnn, x, lengths, hx), run_segmented(rnn, x, lengths, hx)]
    flat = [[out, *(final if cls is nn.LSTM else (final,))] for out, final in results]
    for ref, got in zip(*flat, strict=True):
        torch.testing.assert_close(got, ref)
    assert (flat[1][0][2, 1:] == 0).all()  # zeros after a row's length, as pad_packed_sequence gives
    grads = [torch.autograd.grad(sum(t.square().sum() for t in ts), [x, *rnn.parameters()]) for ts in flat]
    for ref, got in zip(*grads, strict=True):
        torch.testing.assert_close(got, ref)


def test_bidirectional_stack_drops_out_between_layers_only_in_training():
    torch.manual_seed(0)
    rnn = nn.LSTM(3, 4, 2, batch_first=True, bidirectional=True, dropout=0.5).double()
    x, lengths = torch.randn(3, 5, 3, dtype=torch.double), torch.tensor([5, 2, 4])
    rnn.eval()
    torch.testing.assert_close(run_segmented(rnn, x, lengths, None)[0], _packed(rnn, x, lengths, None)[0])
    rnn.train()
    first, second = run_segmented(rnn, x, lengths, None)[0], run_segmented(rnn, x, lengths, None)[0]
    assert not torch.equal(first, second)
    assert (first[1, 2:] == 0).all()


def test_segmented_is_cpu_batch_first_only():
    x = torch.zeros(2, 3, 4)
    assert can_segment(nn.LSTM(4, 5, batch_first=True), x)
    assert can_segment(nn.LSTM(4, 5, batch_first=True, bidirectional=True), x)
    assert not can_segment(nn.LSTM(4, 5), x)


@pytest.mark.parametrize("residual", [False, True])
def test_stack_uses_segments_instead_of_packing(residual, monkeypatch):
    torch.manual_seed(0)
    stack = StackedRNN("lstm", 4, 6, 2, residual=residual).double()
    x = torch.randn(5, 7, 4, dtype=torch.double)
    lengths = torch.tensor([7, 2, 4, 4, 1])
    masked, (h_ref, c_ref) = stack.forward_masked(x, lengths)
    monkeypatch.setattr(rnn_module, "pack_padded_sequence",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("packed")))
    out, (h, c) = stack(x, lengths)
    torch.testing.assert_close(out, masked)
    torch.testing.assert_close(h, h_ref)
    torch.testing.assert_close(c, c_ref)
