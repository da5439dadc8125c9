"""Encoder and the shared RNN stack: shapes, direction merges, residuals, packing."""

import pytest
import torch

from seq2seq.config import build_config
from seq2seq.models.encoder import Encoder
from seq2seq.models.rnn import StackedRNN

V = 13


def _encoder(**over):
    cfg = build_config(overrides={"model.embedding_size": 6, "model.encoder_hidden": 5,
                                  "model.decoder_hidden": 10, "model.bridge": "zero",
                                  **{f"model.{k}": v for k, v in over.items()}}).model
    torch.manual_seed(0)
    return Encoder(cfg, V).eval()


def _batch():
    g = torch.Generator().manual_seed(1)
    lengths = torch.tensor([4, 7, 2])
    src = torch.randint(4, V, (3, 7), generator=g)
    src[torch.arange(7)[None] >= lengths[:, None]] = 0
    return src, lengths


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bi,merge,size", [(False, "concat", 5), (True, "concat", 10), (True, "sum", 5),
                                           (True, "mean", 5)])
@pytest.mark.parametrize("layers,residual", [(1, False), (3, False), (3, True)])
def test_shapes_mask_and_padding(cell, bi, merge, size, layers, residual):
    enc = _encoder(cell=cell, bidirectional=bi, bidirectional_merge=merge, encoder_layers=layers,
                   residual=residual)
    assert enc.output_size == size
    src, lengths = _batch()
    out = enc(src, lengths)
    assert out.outputs.shape == (3, 7, size)
    assert out.mask.tolist() == (torch.arange(7)[None] < lengths[:, None]).tolist()
    assert out.final.hidden.shape == (layers, 3, size)
    assert (out.final.cell is not None) == (cell == "lstm")
    if cell == "lstm":
        assert out.final.cell.shape == (layers, 3, size)
    assert torch.all(out.outputs[~out.mask] == 0)
    # each sentence alone (no padding) gives the same outputs and final states
    for i in range(3):
        n = int(lengths[i])
        alone = enc(src[i:i + 1, :n], lengths[i:i + 1])
        torch.testing.assert_close(alone.outputs[0], out.outputs[i, :n], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(alone.final.hidden[:, 0], out.final.hidden[:, i], atol=1e-6, rtol=1e-5)


def test_final_state_is_last_real_step_of_top_layer():
    enc = _encoder(cell="gru", bidirectional=True, bidirectional_merge="concat")
    src, lengths = _batch()
    out = enc(src, lengths)
    for i, n in enumerate(lengths.tolist()):
        fwd_last = out.outputs[i, n - 1, :5]   # forward direction ends at the last real token
        bwd_first = out.outputs[i, 0, 5:]      # backward direction ends at the first token
        torch.testing.assert_close(out.final.hidden[-1, i], torch.cat([fwd_last, bwd_first]))


def test_sum_and_mean_merge():
    enc_sum = _encoder(cell="lstm", bidirectional=True, bidirectional_merge="sum")
    enc_mean = _encoder(cell="lstm", bidirectional=True, bidirectional_merge="mean")
    enc_mean.load_state_dict(enc_sum.state_dict())
    src, lengths = _batch()
    a, b = enc_sum(src, lengths), enc_mean(src, lengths)
    torch.testing.assert_close(a.outputs / 2, b.outputs)
    torch.testing.assert_close(a.final.cell / 2, b.final.cell)


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
