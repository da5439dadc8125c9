"""Bridge: copy, hidden, zero and linear initial decoder states."""

import pytest
import torch

from seq2seq import build_config
from seq2seq.config import ConfigError
from seq2seq.models.bridge import Bridge
from seq2seq.models.encoder import FinalState


def _final(layers, size, lstm, batch=3):
    torch.manual_seed(0)
    return FinalState(torch.randn(layers, batch, size), torch.randn(layers, batch, size) if lstm else None)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_copy_is_identity(cell):
    final = _final(2, 8, cell == "lstm")
    h, c = Bridge("copy", cell, 8, 2, 8, 2)(final)
    assert h is final.hidden and c is final.cell


def test_copy_mismatch_is_refused_by_the_config():
    # The config is the one place combinations are checked (Bridge trusts it).
    with pytest.raises(ConfigError, match="copy"):
        build_config(overrides={"model.bridge": "copy", "model.encoder_layers": 2, "model.decoder_layers": 3,
                                "model.encoder_hidden": 8, "model.decoder_hidden": 8})


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_hidden_passes_h_and_starts_the_cell_at_zero(cell):
    final = _final(2, 8, cell == "lstm")
    h, c = Bridge("hidden", cell, 8, 2, 8, 2)(FinalState(final.hidden, None))  # an encoder that kept no cell
    assert h is final.hidden
    assert (c is None) == (cell != "lstm")
    if c is not None:
        assert c.shape == h.shape and torch.all(c == 0)


def test_hidden_mismatch_is_refused_by_the_config():
    with pytest.raises(ConfigError, match="model.bridge=hidden needs the encoder's final state size"):
        build_config(overrides={"model.bridge": "hidden", "model.encoder_hidden": 8, "model.decoder_hidden": 6})


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_zero(cell):
    h, c = Bridge("zero", cell, 8, 1, 5, 3)(_final(1, 8, cell == "lstm"))
    assert h.shape == (3, 3, 5) and torch.all(h == 0)
    assert (c is None) == (cell != "lstm")
    if c is not None:
        assert c.shape == (3, 3, 5) and torch.all(c == 0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("enc_layers,enc_size,dec_layers,dec_size", [(1, 8, 1, 8), (2, 16, 3, 5), (4, 6, 1, 12)])
def test_linear_any_sizes(cell, enc_layers, enc_size, dec_layers, dec_size):
    bridge = Bridge("linear", cell, enc_size, enc_layers, dec_size, dec_layers)
    final = _final(enc_layers, enc_size, cell == "lstm")
    h, c = bridge(final)
    assert h.shape == (dec_layers, 3, dec_size)
    assert h.abs().max() < 1  # tanh
    if cell == "lstm":
        assert c.shape == (dec_layers, 3, dec_size)
    else:
        assert c is None
    # each sentence's state depends only on that sentence
    h1, _ = bridge(FinalState(final.hidden[:, 1:2], None if final.cell is None else final.cell[:, 1:2]))
    torch.testing.assert_close(h1[:, 0], h[:, 1])
    # every decoder layer depends on every encoder layer
    h.sum().backward()
    assert torch.all(bridge.hidden_proj.weight.grad.abs().sum(0) > 0)


def test_unknown_bridge_is_refused_by_the_config():
    with pytest.raises(ConfigError, match="bridge"):
        build_config(overrides={"model.bridge": "mlp"})


def test_linear_cell_state_has_no_tanh():
    bridge = Bridge("linear", "lstm", 4, 1, 4, 1)
    with torch.no_grad():
        bridge.cell_proj.weight.fill_(1.0)
        bridge.hidden_proj.weight.fill_(1.0)
    h, c = bridge(FinalState(torch.full((1, 2, 4), 2.0), torch.full((1, 2, 4), 2.0)))
    assert c.abs().max() > 1 and h.abs().max() < 1  # a cell state is not bounded to (-1, 1)
    assert Bridge("linear", "gru", 4, 1, 4, 1).cell_proj is None
