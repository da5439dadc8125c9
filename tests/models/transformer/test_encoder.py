"""The Transformer encoder: outputs zero at padding, a row alone equals the row in a batch, the pooled final
state a recurrent decoder's bridge reads, the convolutional front end for feature sources, and its limits."""

import pytest
import torch

from seq2seq.models.encoder import EncoderOutput
from seq2seq.models.transformer import TransformerEncoder


def test_outputs_padding_and_the_pooled_final_state(make_model, make_batch):
    model = make_model("transformer")
    assert isinstance(model.encoder, TransformerEncoder) and model.encoder.output_size == 8
    src, src_len, _, _ = make_batch(model)
    with torch.no_grad():
        enc = model.encode(src, src_len)
        assert isinstance(enc, EncoderOutput) and enc.outputs.shape == (3, 9, 8)
        assert torch.equal(enc.mask, torch.arange(9)[None] < src_len[:, None])
        assert torch.all(enc.outputs[~enc.mask] == 0)
        assert enc.final.hidden.shape == (1, 3, 8) and enc.final.cell is None
        for i, n in enumerate(src_len.tolist()):
            alone = model.encode(src[i:i + 1, :n], src_len[i:i + 1])
            torch.testing.assert_close(alone.outputs[0], enc.outputs[i, :n], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(enc.final.hidden[0, i], enc.outputs[i, :n].mean(0), atol=1e-6, rtol=1e-5)


def test_feature_sources_are_shortened_by_the_front_end(make_model, make_batch):
    model = make_model("speech-transformer")
    src, src_len, _, _ = make_batch(model)
    with torch.no_grad():
        enc = model.encode(src, src_len)
    assert enc.outputs.shape == (3, 3, 8)  # ceil(9 / 4) steps
    assert enc.mask.sum(1).tolist() == [1, 3, 1]  # ceil([4, 9, 2] / 4)


def test_learned_positions_refuse_a_source_beyond_their_table(make_model):
    model = make_model("transformer-learned-projected", **{"model.max_positions": 5})
    with pytest.raises(ValueError, match="6 steps is longer than model.max_positions=5"):
        model.encode(torch.full((1, 6), 4), torch.tensor([6]))


def test_a_transformer_encoder_feeds_a_recurrent_decoder_through_the_linear_bridge(make_model, make_batch):
    model = make_model("transformer-encoder+lstm-luong")
    src, src_len, _, _ = make_batch(model)
    with torch.no_grad():
        enc = model.encode(src, src_len)
        state, memory = model.init_state(enc)
        pooled = enc.final.hidden[0]
        # hidden: tanh of the pooled outputs projected; the LSTM cell: its own Linear of the same vector
        expected = torch.tanh(model.bridge.hidden_proj(pooled)).view(3, 2, 12).transpose(0, 1)
        torch.testing.assert_close(state.hidden, expected)
        torch.testing.assert_close(state.cell, model.bridge.cell_proj(pooled).view(3, 2, 12).transpose(0, 1))
        torch.testing.assert_close(memory.fixed_context, pooled)
