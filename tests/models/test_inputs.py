"""Input layers: token embeddings and feature projections, and their boundary checks naming the tensor."""

import pytest
import torch

from seq2seq import build_config
from seq2seq.data.vocab import PAD
from seq2seq.models import build_model
from seq2seq.models.inputs import INPUTS, FeatureProjection, TokenEmbedding


def test_registry():
    assert INPUTS == {"tokens": TokenEmbedding, "features": FeatureProjection}


def test_token_embedding_pads_to_zeros():
    emb = TokenEmbedding(7, 3)
    out = emb(torch.tensor([[4, PAD]]))
    assert out.shape == (1, 2, 3) and torch.all(out[0, 1] == 0) and emb.padding_idx == PAD


def test_feature_projection_is_linear():
    proj = FeatureProjection(4, 3)
    x = torch.randn(2, 5, 4)
    torch.testing.assert_close(proj(x), x @ proj.weight.T + proj.bias)


@pytest.mark.parametrize("x, message", [
    ([[4, 5]], "src must be a tensor of token ids, got list"),
    (torch.tensor([4, 5]), r"src must be \(batch, length\), got shape \(2,\)"),
    (torch.zeros(2, 3), "src must hold integer token ids \\(torch.long\\), got torch.float32"),
    (torch.zeros(2, 0, dtype=torch.long), "src has length 0"),
])
def test_token_checks_name_the_tensor(x, message):
    with pytest.raises(ValueError, match=message):
        TokenEmbedding(7, 3).check("src", x)


def test_token_check_accepts_int32_and_checks_the_batch():
    emb = TokenEmbedding(7, 3)
    emb.check("src", torch.zeros(2, 3, dtype=torch.int32))
    emb.check("tgt_in", torch.zeros(2, 3, dtype=torch.long), batch=2)
    with pytest.raises(ValueError, match="tgt_in has batch size 2, the source has 3"):
        emb.check("tgt_in", torch.zeros(2, 3, dtype=torch.long), batch=3)


@pytest.mark.parametrize("x, message", [
    (torch.zeros(2, 3).numpy(), "src must be a tensor of feature vectors, got ndarray"),
    (torch.zeros(2, 3), r"src must be \(batch, length, dim\) feature vectors, got shape \(2, 3\)"),
    (torch.zeros(2, 3, 4, dtype=torch.long), "src must hold real-valued features \\(float\\), got torch.int64"),
    (torch.zeros(2, 3, 5), "src has vectors of size 5, the model reads 4"),
    (torch.zeros(2, 0, 4), "src has length 0"),
])
def test_feature_checks_name_the_tensor(x, message):
    with pytest.raises(ValueError, match=message):
        FeatureProjection(4, 3).check("src", x)


def test_model_boundary_checks_use_the_right_names():
    cfg = build_config(overrides={"data.source_type": "features", "data.target_type": "features",
                                  "model.embedding_size": 4, "model.encoder_hidden": 4, "model.decoder_hidden": 4})
    model = build_model(cfg, 3, 2)
    src, lengths = torch.zeros(2, 5, 3), torch.tensor([5, 2])
    model(src, lengths, torch.zeros(2, 4, 2))
    with pytest.raises(ValueError, match="src has vectors of size 2, the model reads 3"):
        model(torch.zeros(2, 5, 2), lengths, torch.zeros(2, 4, 2))
    with pytest.raises(ValueError, match="tgt_in has vectors of size 3, the model reads 2"):
        model(src, lengths, torch.zeros(2, 4, 3))
    with pytest.raises(ValueError, match="tgt_in must be \\(batch, length, dim\\)"):
        model(src, lengths, torch.zeros(2, 4, dtype=torch.long))
