"""The shared RNN stack: the step path and the masked path equal the sequence path, residuals, packing only when
padded."""

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seq2seq.models import rnn as rnn_module
from seq2seq.models.rnn import StackedRNN


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers,residual", [(1, False), (2, False), (3, True)])
def test_stacked_rnn_step_matches_forward(cell, layers, residual):
    torch.manual_seed(0)
    rnn = StackedRNN(cell, 4, 6, layers, residual=residual).eval()
    x = torch.randn(2, 5, 4)
    h0 = torch.randn(layers, 2, 6)
    c0 = torch.randn(layers, 2, 6) if cell == "lstm" else None
    out, (h, c) = rnn(x, None, (h0, c0))
    state = (h0, c0)
    for t in range(5):
        o, state = rnn.step(x[:, t], state)
        torch.testing.assert_close(o, out[:, t], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(state[0], h, atol=1e-6, rtol=1e-5)
    if cell == "lstm":
        torch.testing.assert_close(state[1], c, atol=1e-6, rtol=1e-5)


def test_residual_adds_layer_input():
    torch.manual_seed(0)
    rnn = StackedRNN("gru", 4, 6, 2, residual=True).eval()
    x = torch.randn(2, 5, 4)
    out, _ = rnn(x)
    first, _ = rnn.layers[0](x)
    second, _ = rnn.layers[1](first)
    torch.testing.assert_close(out, second + first)


def test_unknown_cell_is_refused():
    with pytest.raises(ValueError, match="cell"):
        StackedRNN("transformer", 4, 4)


@pytest.mark.parametrize("bi", [False, True])
def test_unpadded_batch_skips_packing_with_the_same_result(bi, monkeypatch):
    import seq2seq.models.rnn as rnn_module

    reference_pack = torch.nn.utils.rnn.pack_padded_sequence

    def refuse(*args, **kwargs):
        raise AssertionError("an unpadded batch was packed")

    monkeypatch.setattr(rnn_module, "pack_padded_sequence", refuse)
    torch.manual_seed(0)
    rnn = StackedRNN("lstm", 6, 5, num_layers=2, bidirectional=bi).eval()
    x = torch.randn(3, 4, 6)
    fast, (h, c) = rnn(x, torch.tensor([4, 4, 4]))
    packed = reference_pack(x, torch.tensor([4, 4, 4]), batch_first=True)
    ref, (h_ref, c_ref) = rnn.layers[0](packed)
    torch.testing.assert_close(fast, torch.nn.utils.rnn.pad_packed_sequence(ref, batch_first=True)[0])
    torch.testing.assert_close((h, c), (h_ref, c_ref))


def test_step_needs_a_unidirectional_stack():
    rnn = StackedRNN("gru", 4, 6, bidirectional=True)
    with pytest.raises(ValueError, match="unidirectional"):
        rnn.step(torch.zeros(2, 4), (torch.zeros(2, 2, 6), None))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_padded_sequences_end_at_their_last_real_step(cell):
    torch.manual_seed(0)
    rnn = StackedRNN(cell, 3, 4, 2, residual=True).eval()
    x = torch.randn(2, 5, 3)
    lengths = torch.tensor([5, 2])
    out, (h, _) = rnn(x, lengths)
    assert torch.all(out[1, 2:] == 0)  # zeros at padded steps
    alone, (h_alone, _) = rnn(x[1:, :2])
    torch.testing.assert_close(out[1, :2], alone[0])
    torch.testing.assert_close(h[:, 1], h_alone[:, 0])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_one_call_without_the_final_cell_equals_the_masked_path(cell, monkeypatch):
    torch.manual_seed(0)
    rnn = StackedRNN(cell, 3, 4).double()
    x, lengths = torch.randn(4, 6, 3, dtype=torch.double, requires_grad=True), torch.tensor([6, 2, 4, 1])
    packed, final = rnn.layers[0](pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    out = pad_packed_sequence(packed, batch_first=True, total_length=6)[0]
    h = final[0] if cell == "lstm" else final
    monkeypatch.setattr(rnn_module, "run_segmented", lambda *a: (_ for _ in ()).throw(AssertionError("segmented")))
    fast, (h_fast, c_fast) = rnn(x, lengths, final_cell=False)
    torch.testing.assert_close(fast, out)
    torch.testing.assert_close(h_fast, h)
    assert c_fast is None
    grads = [torch.autograd.grad(o.square().sum() + hh.sum(), x)[0] for o, hh in ((out, h), (fast, h_fast))]
    torch.testing.assert_close(grads[1], grads[0])


def test_double_precision_steps():
    torch.manual_seed(0)
    rnn = StackedRNN("lstm", 3, 4, 2).double()
    out, (h, c) = rnn.step(torch.randn(2, 3, dtype=torch.float64),
                           (torch.zeros(2, 2, 4, dtype=torch.float64), torch.zeros(2, 2, 4, dtype=torch.float64)))
    assert out.dtype == h.dtype == c.dtype == torch.float64


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers,bidirectional,residual", [(1, False, False), (1, True, False), (2, True, False),
                                                           (3, True, True), (2, False, True)])
def test_masked_path_equals_packed_path(cell, layers, bidirectional, residual):
    torch.manual_seed(0)
    rnn = StackedRNN(cell, 4, 6, layers, bidirectional=bidirectional, residual=residual).eval()
    x = torch.randn(4, 7, 4)
    lengths = torch.tensor([7, 1, 4, 6])
    x[torch.arange(7).unsqueeze(0) >= lengths.unsqueeze(1)] = 3.0  # padding must not matter, whatever it holds
    packed, (h, c) = rnn(x, lengths)
    masked, (hm, cm) = rnn.forward_masked(x, lengths)
    torch.testing.assert_close(masked, packed, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(hm, h, atol=1e-6, rtol=1e-5)
    if cell == "lstm":
        torch.testing.assert_close(cm, c, atol=1e-6, rtol=1e-5)
    else:
        assert cm is None
    assert bool((masked[1, 1:] == 0).all()) and bool((masked[2, 4:] == 0).all())


def test_masked_path_takes_an_initial_state():
    torch.manual_seed(0)
    rnn = StackedRNN("lstm", 4, 6, 2, bidirectional=True).eval()
    x, lengths = torch.randn(3, 5, 4), torch.tensor([5, 2, 3])
    state = (torch.randn(4, 3, 6), torch.randn(4, 3, 6))
    packed, (h, c) = rnn(x, lengths, state)
    masked, (hm, cm) = rnn.forward_masked(x, lengths, state)
    torch.testing.assert_close(masked, packed, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close((hm, cm), (h, c), atol=1e-6, rtol=1e-5)

