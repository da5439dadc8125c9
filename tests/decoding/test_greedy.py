"""Greedy search: the argmax fed back step by step, caps and min_length, attention, padding invariance,
and vector targets generated as decode.feature_length says."""

import numpy as np
import pytest
import torch

from seq2seq import build_config
from seq2seq.config import DecodeConfig
from seq2seq.data.vocab import BOS, EOS, PAD
from seq2seq.decoding import greedy
from seq2seq.models import build_model

PRESETS = ["baseline", "reverse-peeky", "attention", "luong", "bahdanau", "transformer-tiny",
           "transformer-encoder+luong-decoder", "birnn-encoder+transformer-decoder"]


def _by_hand(model, src, lengths, steps):
    """The textbook's loop: argmax fed back, every row to the same number of steps."""
    with torch.no_grad():
        state, memory = model.init_state(model.encode(src, lengths))
        prev = torch.full((src.size(0),), BOS)
        out = []
        for _ in range(steps):
            step = model.step(prev, state, memory)
            state, prev = step.state, step.scores.argmax(-1)
            out.append(prev)
    return torch.stack(out, 1).tolist()


@pytest.mark.parametrize("preset", PRESETS)
def test_greedy_is_the_argmax_loop_cut_at_eos(preset, make_model, make_batch, teacher_forced_score):
    model = make_model(preset, seed=1)
    src, lengths = make_batch(1)
    hyps = greedy(model, src, lengths, DecodeConfig(max_length=12))
    assert len(hyps) == src.size(0)
    for i, (h, row) in enumerate(zip(hyps, _by_hand(model, src, lengths, 12))):
        end = row.index(EOS) if EOS in row else 12
        assert h.output == row[:end] and EOS not in h.output
        if end < 12:  # ended with </s>, so its score includes </s>
            assert h.score == pytest.approx(teacher_forced_score(model, src[i], lengths[i], h.output), abs=1e-4)
    assert {len(h.output) for h in hyps} != {12}  # mixed lengths: some rows ended early


@pytest.mark.parametrize("preset,extra", [
    ("luong", {}), ("transformer-tiny", {}), ("transformer-encoder+luong-decoder", {}),
    ("birnn-encoder+transformer-decoder", {}),
    ("luong", {"model.attention": "location", "model.attention_output": "concat"}),
    ("luong", {"model.attention_heads": 2})], ids=["luong", "transformer-tiny", "transformer-encoder+luong-decoder",
                                                   "birnn-encoder+transformer-decoder", "location", "two-heads"])
def test_each_row_alone_gives_the_same_result(preset, extra, make_model, make_batch):
    model = make_model(preset, seed=2, **extra)
    src, lengths = make_batch(2)
    options = DecodeConfig(max_length_a=1.0, max_length_b=3)
    together = greedy(model, src, lengths, options, keep_attention=True)
    for i in range(src.size(0)):
        n = int(lengths[i])
        alone = greedy(model, src[i:i + 1, :n], lengths[i:i + 1], options, keep_attention=True)[0]
        assert alone.output == together[i].output and alone.score == pytest.approx(together[i].score, abs=1e-5)
        torch.testing.assert_close(alone.attention, together[i].attention[:, :n], atol=1e-5, rtol=1e-5)
        assert torch.all(together[i].attention[:, n:] == 0)
        heads = model.config.decoder_type == "transformer" or "model.attention_heads" in extra
        assert (together[i].head_attention is not None) == heads
        if together[i].head_attention is not None:  # multi-head: each head's map, and their mean
            torch.testing.assert_close(alone.head_attention, together[i].head_attention[..., :n], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(together[i].head_attention.mean(0), together[i].attention)


def test_caps_follow_the_source_length(make_model):
    model = make_model(seed=3)
    with torch.no_grad():
        model.head.output.bias[EOS] -= 100.0  # never ends by itself
    src = torch.tensor([[4, 5, 6, 7], [8, 9, PAD, PAD]])
    lengths = torch.tensor([4, 2])
    hyps = greedy(model, src, lengths, DecodeConfig(max_length_a=1.5, max_length_b=1))
    assert [len(h.output) for h in hyps] == [7, 4]
    hyps = greedy(model, src, lengths, DecodeConfig(max_length=3))
    assert [len(h.output) for h in hyps] == [3, 3]


def test_min_length_and_attention(make_model):
    model = make_model(seed=4)
    with torch.no_grad():
        model.head.output.bias[EOS] += 100.0  # would end at once
    src, lengths = torch.tensor([[5, 6, 7]]), torch.tensor([3])
    assert greedy(model, src, lengths, DecodeConfig())[0].output == []
    h = greedy(model, src, lengths, DecodeConfig(min_length=4), keep_attention=True)[0]
    assert len(h.output) == 4
    assert h.attention.shape == (5, 3)  # one row per step, </s> included
    torch.testing.assert_close(h.attention.sum(-1), torch.ones(5))
    assert greedy(model, src, lengths, DecodeConfig())[0].attention is None


def test_no_attention_without_an_attention_model(make_model, make_batch):
    model = make_model("baseline")
    src, lengths = make_batch()
    assert all(h.attention is None for h in greedy(model, src, lengths, DecodeConfig(), keep_attention=True))


def test_no_graphs_are_built(make_model, make_batch):
    model = make_model().train()
    src, lengths = make_batch()
    h = greedy(model, src, lengths, DecodeConfig(max_length=4), keep_attention=True)[0]
    assert not h.attention.requires_grad


# --- vector targets ---

def _vector_model(stop_flag=False, target_length=None, seed=0):
    overrides = {"data.source_type": "features", "data.target_type": "features", "model.embedding_size": 8,
                 "model.encoder_hidden": 16, "model.decoder_hidden": 16, "model.attention": "general",
                 "model.stop_flag": stop_flag, "data.target_length": target_length}
    torch.manual_seed(seed)
    return build_model(build_config(overrides=overrides), 3, 2).eval()


def _vector_batch():
    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([4, 2, 6])
    return torch.randn(3, 6, 3, generator=g) * (torch.arange(6)[None] < lengths[:, None]).unsqueeze(-1), lengths


def test_vectors_are_the_predictions_fed_back():
    model = _vector_model()
    src, lengths = _vector_batch()
    hyps = greedy(model, src, lengths, DecodeConfig(), keep_attention=True)
    assert [tuple(h.output.shape) for h in hyps] == [(4, 2), (2, 2), (6, 2)]  # auto: the source's length
    assert all(h.score == 0.0 for h in hyps)
    with torch.no_grad():
        state, memory = model.init_state(model.encode(src, lengths))
        prev = model.head.start(3, src.device)
        for t in range(6):
            step = model.step(prev, state, memory)
            for i, h in enumerate(hyps):
                if t < len(h.output):
                    torch.testing.assert_close(h.output[t], step.scores[i], atol=1e-5, rtol=1e-5)
            state, prev = step.state, step.scores
    assert [tuple(h.attention.shape) for h in hyps] == [(4, 6), (2, 6), (6, 6)]


@pytest.mark.parametrize("mode, lengths", [("fixed", [5, 5, 5]), ("source", [4, 2, 6])])
def test_vector_lengths_per_feature_length(mode, lengths):
    model = _vector_model(stop_flag=True, target_length=5)
    src, src_lengths = _vector_batch()
    hyps = greedy(model, src, src_lengths, DecodeConfig(feature_length=mode))
    assert [len(h.output) for h in hyps] == lengths


def test_stop_flag_ends_rows():
    model = _vector_model(stop_flag=True)
    src, lengths = _vector_batch()
    with torch.no_grad():
        model.head.output.bias[2] = 100.0  # the stop flag fires at once
    assert [len(h.output) for h in greedy(model, src, lengths, DecodeConfig())] == [1, 1, 1]
    with torch.no_grad():
        model.head.output.bias[2] = -100.0  # never: the max_length rules cap it
    hyps = greedy(model, src, lengths, DecodeConfig(max_length_a=1.0, max_length_b=1))
    assert [len(h.output) for h in hyps] == [5, 3, 7]
    assert all(np.isfinite(h.output.numpy()).all() for h in hyps)
