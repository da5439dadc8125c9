"""Decoder: state values, whole-sequence vs step path, feed_context, input feeding, tied output."""

import pytest
import torch

from seq2seq import build_config
from seq2seq.models.decoder import Decoder, DecoderState, Memory, pre_output_size
from seq2seq.models.heads import TokenHead, VectorHead

V, HE = 11, 7


def _decoder(**over):
    cfg = build_config(overrides={"model.embedding_size": 6, "model.encoder_hidden": HE,
                                  "model.decoder_hidden": 8, "model.bridge": "zero",
                                  **{f"model.{k}": v for k, v in over.items()}}).model
    torch.manual_seed(0)
    return Decoder(cfg, TokenHead(V, cfg.embedding_size, cfg.tie_embeddings), HE).eval(), cfg


def _memory(dec, batch=3, src_len=5):
    g = torch.Generator().manual_seed(1)
    outputs = torch.randn(batch, src_len, HE, generator=g)
    mask = torch.arange(src_len)[None] < torch.tensor([5, 2, 4][:batch])[:, None]
    outputs = outputs * mask.unsqueeze(-1)
    keys = None if dec.attention is None else dec.attention.precompute(outputs)
    # a copy model's map of source positions into the extended vocabulary: some known ids, some copied
    source_map = torch.randint(4, V, (batch, src_len), generator=g) if dec.copy is not None else None
    if source_map is not None:
        source_map[:, 1] = V + 1
    return Memory(outputs, mask, keys, torch.randn(batch, HE, generator=g), source_map)


def _state(dec, cfg, batch=3, memory=None):
    g = torch.Generator().manual_seed(2)
    h = torch.randn(cfg.decoder_layers, batch, 8, generator=g)
    c = torch.randn(cfg.decoder_layers, batch, 8, generator=g) if cfg.cell == "lstm" else None
    if memory is not None:
        return dec.initial_state(h, c, memory)
    return DecoderState(h, c, dec.initial_feed(batch, h))


VARIANTS = [
    dict(cell="lstm"),
    dict(cell="gru", feed_context="input"),
    dict(cell="rnn", feed_context="peeky", decoder_layers=2),
    dict(cell="lstm", attention="general", decoder_layers=3, residual=True),
    dict(cell="gru", attention="concat", attention_output="tanh", feed_context="peeky"),
    dict(cell="lstm", attention="general", attention_output="tanh", input_feeding=True),
    dict(cell="gru", attention="concat", input_feeding=True, decoder_layers=2, residual=True),
    dict(cell="lstm", tie_embeddings=True),
    dict(cell="lstm", attention="general", attention_output="tanh", tie_embeddings=True, embedding_size=8),
    dict(cell="lstm", attention="location", location_kernel=5),
    dict(cell="gru", attention="location", coverage=True, input_feeding=True, attention_output="tanh"),
    dict(cell="lstm", attention="concat", coverage=True, decoder_layers=2),
    dict(cell="gru", attention="concat", copy=True, input_feeding=True),
    dict(cell="lstm", attention="location", coverage=True, copy=True, feed_context="input"),
]


@pytest.mark.parametrize("over", VARIANTS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_sequence_equals_steps(over):
    dec, cfg = _decoder(**over)
    memory = _memory(dec)
    state = _state(dec, cfg, memory=memory)
    tgt = torch.randint(4, V, (3, 6))
    scores, attn, final = dec.forward_sequence(tgt, state, memory)
    assert scores.shape == (3, 6, V + 5 if cfg.copy else V)
    assert (attn is None) == (cfg.attention == "none")
    s = state
    for t in range(6):
        out = dec.step(tgt[:, t], s, memory)
        torch.testing.assert_close(out.scores, scores[:, t], atol=1e-5, rtol=1e-5)
        if attn is not None:
            torch.testing.assert_close(out.attention, attn[:, t], atol=1e-5, rtol=1e-5)
            assert torch.all(out.attention[~memory.mask] == 0)
        s = out.state
    for name in ("hidden", "feed", "attention", "coverage"):
        if getattr(s, name) is not None or getattr(final, name) is not None:
            torch.testing.assert_close(getattr(s, name), getattr(final, name), atol=1e-5, rtol=1e-5)
    assert (s.feed is not None) == cfg.input_feeding
    assert (s.attention is not None) == (cfg.attention == "location") and (s.coverage is not None) == cfg.coverage


def test_state_is_a_value_and_index_select():
    dec, cfg = _decoder(cell="lstm", attention="general", input_feeding=True)
    memory = _memory(dec)
    state = _state(dec, cfg)
    assert torch.all(state.feed == 0) and state.feed.shape == (3, HE)  # context c with attention_output=concat
    before = state.hidden.clone()
    out = dec.step(torch.tensor([4, 5, 6]), state, memory)
    assert torch.equal(state.hidden, before) and out.state is not state
    idx = torch.tensor([2, 2, 0, 1])
    sel = out.state.index_select(idx)
    assert sel.hidden.shape == (1, 4, 8) and sel.cell.shape == (1, 4, 8) and sel.feed.shape == (4, HE)
    torch.testing.assert_close(sel.hidden[:, 1], out.state.hidden[:, 2])
    torch.testing.assert_close(sel.feed[3], out.state.feed[1])
    mem = memory.index_select(idx)
    # the reordered batch decodes exactly like the original rows
    again = dec.step(torch.tensor([7, 7, 7, 7]), sel, mem)
    ref = dec.step(torch.tensor([7, 7, 7]), out.state, memory)
    torch.testing.assert_close(again.scores, ref.scores[idx])


def test_feed_context_input_sizes():
    for fc, extra in (("init", 0), ("input", HE), ("peeky", HE)):
        dec, _ = _decoder(feed_context=fc)
        assert dec.rnn.layers[0].input_size == 6 + extra
        assert dec.head.output.in_features == 8 + (HE if fc == "peeky" else 0)


def test_tied_embeddings_share_weights():
    dec, cfg = _decoder(tie_embeddings=True)  # pre-output 8 != embedding 6: projection added
    assert dec.head.tie_proj is not None and not hasattr(dec.head, "output")
    dec2, _ = _decoder(tie_embeddings=True, embedding_size=8)
    assert dec2.head.tie_proj is None
    scores, _, _ = dec.forward_sequence(torch.randint(4, V, (3, 4)), _state(dec, cfg), _memory(dec))
    scores.sum().backward()
    assert dec.head.input.weight.grad is not None


@pytest.mark.parametrize("over, size", [
    (dict(), 8), (dict(feed_context="peeky"), 8 + HE), (dict(attention="general"), HE + 8),
    (dict(attention="general", attention_output="tanh"), 8),
    (dict(attention="concat", attention_output="tanh", feed_context="peeky"), 8 + HE),
])
def test_pre_output_size(over, size):
    dec, cfg = _decoder(**over)
    assert pre_output_size(cfg, HE) == size == dec.head.output.in_features


def test_head_is_part_of_the_decoder():
    dec, _ = _decoder()
    assert {n.split(".")[0] for n, _ in dec.named_parameters()} >= {"head", "rnn"}
    assert "head.input.weight" in dict(dec.named_parameters()) and "head.output.weight" in dict(dec.named_parameters())


@pytest.mark.parametrize("over", [dict(cell="lstm"), dict(cell="gru", attention="general", input_feeding=True),
                                  dict(cell="lstm", attention="concat", feed_context="peeky")])
def test_vector_targets_sequence_equals_steps(over):
    cfg = build_config(overrides={"model.embedding_size": 6, "model.encoder_hidden": HE, "model.decoder_hidden": 8,
                                  "model.bridge": "zero", **{f"model.{k}": v for k, v in over.items()}}).model
    torch.manual_seed(0)
    dec = Decoder(cfg, VectorHead(3, cfg.embedding_size, stop_flag=True), HE).eval()
    memory, state = _memory(dec), _state(dec, cfg)
    tgt = torch.randn(3, 5, 3, generator=torch.Generator().manual_seed(3))
    scores, _, _ = dec.forward_sequence(tgt, state, memory)
    assert scores.shape == (3, 5, 4)  # the vector and the stop flag's logit
    s = state
    for t in range(5):
        out = dec.step(tgt[:, t], s, memory)
        torch.testing.assert_close(out.scores, scores[:, t], atol=1e-5, rtol=1e-5)
        s = out.state
