"""Encoder: shapes, masks, direction merges, final states, padding invariance, token and feature sources."""

import pytest
import torch

from seq2seq import build_config
from seq2seq.models.encoder import Encoder
from seq2seq.models.inputs import FeatureProjection, TokenEmbedding

V = 13


def _encoder(**over):
    cfg = build_config(overrides={"model.embedding_size": 6, "model.encoder_hidden": 5,
                                  "model.decoder_hidden": 10, "model.bridge": "linear",
                                  **{f"model.{k}": v for k, v in over.items()}}).model
    torch.manual_seed(0)
    return Encoder(cfg, "tokens", V).eval()


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




def test_index_select_repeats_rows():
    enc = _encoder(cell="lstm", bidirectional=True)
    src, lengths = _batch()
    out = enc(src, lengths)
    idx = torch.tensor([2, 2, 0])
    sel = out.index_select(idx)
    assert sel.outputs.shape == (3, 7, 10) and sel.mask.tolist() == out.mask[idx].tolist()
    torch.testing.assert_close(sel.final.hidden, out.final.hidden[:, idx])
    torch.testing.assert_close(sel.final.cell, out.final.cell[:, idx])


def test_input_layer_follows_the_source_kind():
    sizes = {"model.embedding_size": 6, "model.encoder_hidden": 5, "model.decoder_hidden": 5}
    cfg = build_config(overrides=sizes).model
    tokens = Encoder(cfg, "tokens", V)
    assert isinstance(tokens.input, TokenEmbedding) and tokens.input.num_embeddings == V
    assert tokens.input.padding_idx == 0 and tokens.pyramid is None
    features = Encoder(cfg, "features", 3)
    assert isinstance(features.input, FeatureProjection) and features.input.in_features == 3


@pytest.mark.parametrize("pyramid", [0, 1, 2])
def test_feature_source_with_a_pyramid(pyramid):
    cfg = build_config(overrides={"data.source_type": "features", "model.embedding_size": 6,
                                  "model.encoder_hidden": 5, "model.decoder_hidden": 10, "model.bridge": "linear",
                                  "model.bidirectional": True, "model.pyramid_layers": pyramid}).model
    torch.manual_seed(0)
    enc = Encoder(cfg, "features", 3).eval()
    g = torch.Generator().manual_seed(1)
    lengths = torch.tensor([4, 7, 2])
    src = torch.randn(3, 7, 3, generator=g) * (torch.arange(7)[None] < lengths[:, None]).unsqueeze(-1)
    out = enc(src, lengths)
    steps = -(-7 // 2 ** pyramid)
    reduced = -(-lengths // 2 ** pyramid)
    assert out.outputs.shape == (3, steps, 10)
    assert out.mask.tolist() == (torch.arange(steps)[None] < reduced[:, None]).tolist()
    assert torch.all(out.outputs[~out.mask] == 0)
    for i in range(3):
        n = int(lengths[i])
        alone = enc(src[i:i + 1, :n], lengths[i:i + 1])
        torch.testing.assert_close(alone.outputs[0], out.outputs[i, : int(reduced[i])], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(alone.final.hidden[:, 0], out.final.hidden[:, i], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_without_a_bridge_reading_the_cell_the_outputs_and_hidden_states_are_the_same(cell):
    src, lengths = _batch()
    full = _encoder(cell=cell)(src, lengths)
    short = _encoder(cell=cell, bridge="zero")(src, lengths)
    torch.testing.assert_close(short.outputs, full.outputs)
    torch.testing.assert_close(short.final.hidden, full.final.hidden)
    assert short.final.cell is None
