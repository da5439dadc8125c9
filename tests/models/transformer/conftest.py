"""Small Transformer and hybrid models and padded batches for the Transformer tests (fixtures returning factories)."""

import pytest
import torch

from seq2seq import build_config
from seq2seq.models import build_model

V_SRC, V_TGT, FEATURES = 10, 11, 3
SMALL = {"model.embedding_size": 8, "model.transformer_size": 8, "model.transformer_heads": 2,
         "model.transformer_ff_size": 16}

# Each: overrides of a model with at least one Transformer side (tokens on both sides unless said).
ARCHITECTURES = {
    "transformer": {"model.encoder_type": "transformer", "model.decoder_type": "transformer",
                    "model.encoder_layers": 2, "model.decoder_layers": 2, "model.tie_embeddings": True},
    "transformer-learned-projected": {"model.encoder_type": "transformer", "model.decoder_type": "transformer",
                                      "model.positions": "learned", "model.max_positions": 32,
                                      "model.embedding_size": 6, "model.transformer_heads": 4},
    "transformer-encoder+lstm-luong": {"model.encoder_type": "transformer", "model.cell": "lstm",
                                       "model.decoder_hidden": 12, "model.bridge": "linear",
                                       "model.attention": "general", "model.attention_output": "tanh",
                                       "model.input_feeding": True, "model.decoder_layers": 2},
    "transformer-encoder+gru-peeky-dot": {"model.encoder_type": "transformer", "model.cell": "gru",
                                          "model.decoder_hidden": 8, "model.bridge": "zero",
                                          "model.feed_context": "peeky", "model.attention": "dot"},
    "bilstm-encoder+transformer": {"model.decoder_type": "transformer", "model.bidirectional": True,
                                   "model.encoder_hidden": 5, "model.encoder_layers": 2, "model.decoder_layers": 2},
    "gru-encoder+transformer-features": {"model.decoder_type": "transformer", "model.cell": "gru",
                                         "model.encoder_hidden": 7, "data.target_type": "features",
                                         "model.stop_flag": True},
    "speech-transformer": {"model.encoder_type": "transformer", "model.decoder_type": "transformer",
                           "data.source_type": "features", "model.subsample_layers": 2},
}


def _model(name, seed=0, **extra):
    cfg = build_config(overrides={**SMALL, **ARCHITECTURES[name], **extra})
    torch.manual_seed(seed)
    src_size = FEATURES if cfg.data.source_type == "features" else V_SRC
    tgt_size = FEATURES if cfg.data.target_type == "features" else V_TGT
    return build_model(cfg, src_size, tgt_size).eval()


def _batch(model, seed=0):
    """Three rows of different source and target lengths, padded: src, src_lengths, tgt_in, tgt_lengths."""
    g = torch.Generator().manual_seed(seed)
    src_len, tgt_len = torch.tensor([4, 9, 2]), torch.tensor([3, 2, 6])
    if model.encoder.input.__class__.__name__ == "FeatureProjection":
        src = torch.randn(3, 9, FEATURES, generator=g)
        src[torch.arange(9)[None] >= src_len[:, None]] = 0.0
    else:
        src = torch.randint(4, V_SRC, (3, 9), generator=g)
        src[torch.arange(9)[None] >= src_len[:, None]] = 0
    pad = torch.arange(6)[None] >= tgt_len[:, None]
    if model.head.kind == "features":
        tgt_in = torch.randn(3, 6, FEATURES, generator=g)
        tgt_in[pad] = 0.0
    else:
        tgt_in = torch.randint(4, V_TGT, (3, 6), generator=g)
        tgt_in[:, 0] = 2
        tgt_in[pad] = 0
    return src, src_len, tgt_in, tgt_len


def pytest_generate_tests(metafunc):
    """A test taking `architecture` runs once for each of ARCHITECTURES."""
    if "architecture" in metafunc.fixturenames:
        metafunc.parametrize("architecture", list(ARCHITECTURES))


@pytest.fixture
def make_model():
    return _model


@pytest.fixture
def make_batch():
    return _batch

