"""One embedding for both sides (model.share_embeddings, with data.shared_vocab) and the Transformer's
activation dropout (model.activation_dropout)."""

import pytest
import torch

from seq2seq import build_config
from seq2seq.config import ConfigError
from seq2seq.models import build_model
from seq2seq.models.transformer.feedforward import PositionwiseFeedForward
from seq2seq.runs.checkpoint import load_state_into, save_tensors

V = 12
SMALL = {"data.shared_vocab": True, "model.embedding_size": 8}
KINDS = {"transformer": {"model.encoder_type": "transformer", "model.decoder_type": "transformer",
                         "model.transformer_size": 8, "model.transformer_heads": 2, "model.transformer_ff_size": 16},
         "rnn": {"model.attention": "general", "model.encoder_hidden": 8, "model.decoder_hidden": 8}}


def _model(kind, **extra):
    torch.manual_seed(0)
    return build_model(build_config(overrides={**SMALL, **KINDS[kind], **extra}), V, V)


@pytest.mark.parametrize("kind", list(KINDS))
def test_both_sides_read_one_embedding_that_the_output_layer_ties_to(kind, tmp_path):
    shared = _model(kind, **{"model.share_embeddings": True, "model.tie_embeddings": True})
    apart = _model(kind, **{"model.tie_embeddings": True})
    assert shared.encoder.input.weight is shared.head.input.weight
    n = sum(p.numel() for p in shared.parameters())
    assert n == sum(p.numel() for p in apart.parameters()) - V * 8
    # A gradient from either side reaches the one weight.
    src, lengths, tgt = torch.randint(4, V, (2, 5)), torch.tensor([5, 3]), torch.randint(4, V, (2, 4))
    shared.train()
    loss, _ = shared.loss(shared(src, lengths, tgt).scores, tgt)
    loss.backward()
    assert shared.head.input.weight.grad is not None
    # Saved and loaded (safetensors splits the shared storage): the copy still has one weight, same outputs.
    save_tensors(shared.state_dict(), tmp_path / "m.safetensors")
    again = _model(kind, **{"model.share_embeddings": True, "model.tie_embeddings": True})
    torch.nn.init.normal_(again.head.input.weight)
    load_state_into(again, tmp_path / "m.safetensors")
    assert again.encoder.input.weight is again.head.input.weight
    shared.eval(), again.eval()
    assert torch.equal(shared(src, lengths, tgt).scores, again(src, lengths, tgt).scores)


def test_share_embeddings_needs_one_vocabulary():
    with pytest.raises(ConfigError, match="model.share_embeddings=true needs data.shared_vocab=true"):
        build_config(overrides={**SMALL, "data.shared_vocab": False, "model.share_embeddings": True})
    with pytest.raises(ValueError, match="src_size 12 != tgt_size 13"):
        build_model(build_config(overrides={**SMALL, "model.share_embeddings": True}), V, V + 1)


def test_activation_dropout_drops_inside_the_feed_forward_layer_only_while_training():
    torch.manual_seed(0)
    plain = PositionwiseFeedForward(8, 16)
    torch.manual_seed(0)
    dropped = PositionwiseFeedForward(8, 16, activation_dropout=0.5)
    x = torch.randn(2, 3, 8)
    plain.eval(), dropped.eval()
    assert torch.equal(plain(x), dropped(x))
    dropped.train()
    torch.manual_seed(1)
    out = dropped(x)
    torch.manual_seed(1)
    keep = (torch.rand(2, 3, 16) >= 0.5).float() * 2.0
    assert torch.allclose(out, dropped.outer(dropped.inner(x).relu() * keep))


def test_activation_dropout_is_a_transformer_key():
    with pytest.raises(ConfigError, match="model.activation_dropout"):
        build_config(overrides={"model.activation_dropout": 0.1})
    cfg = build_config(overrides={**SMALL, **KINDS["transformer"], "model.activation_dropout": 0.1})
    model = build_model(cfg, V, V)
    assert all(layer.feed_forward.activation_dropout == 0.1 for layer in model.encoder.layers)


def test_word_dropout_zeroes_whole_tokens_only_while_training():
    from seq2seq.models.inputs import TokenEmbedding

    torch.manual_seed(0)
    layer = TokenEmbedding(V, 6, word_dropout=0.5)
    ids = torch.randint(1, V, (4, 9))
    plain = torch.nn.functional.embedding(ids, layer.weight, padding_idx=0)
    assert torch.equal(layer.eval()(ids), plain)
    out = layer.train()(ids)
    dropped = (out == 0).all(-1)
    assert dropped.any() and (~dropped).any()
    assert torch.allclose(out[~dropped], plain[~dropped] * 2.0)  # kept tokens scaled by 1 / (1 - p)


def test_word_dropout_reaches_both_token_sides_and_needs_one():
    model = _model("rnn", **{"model.word_dropout": 0.1})
    assert model.encoder.input.word_dropout == 0.1 and model.head.input.word_dropout == 0.1
    with pytest.raises(ConfigError, match="model.word_dropout drops tokens"):
        build_config(overrides={"data.task": "sine", "model.word_dropout": 0.1})
