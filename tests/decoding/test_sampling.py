"""Sampling: seeded draws are reproducible, top-k and top-p masks, temperature, min_length, scores."""

import pytest
import torch

from seq2seq.config import DecodeConfig
from seq2seq.data.vocab import EOS
from seq2seq.decoding import filter_logits, generate, greedy, sample

SOURCES = [[5, 6, 7], [8, 9], [4, 5, 6, 7, 8]]


def _ids(results):
    return [h[0].output for h in results]


def test_sampling_is_seeded_and_top_k_one_is_greedy(make_model, side):
    model = make_model(seed=3)
    options = DecodeConfig(strategy="sample", seed=7, max_length=10)
    a = generate(model, side, SOURCES, options)
    b = generate(model, side, SOURCES, options)
    assert _ids(a) == _ids(b)
    many = {tuple(generate(model, side, SOURCES, DecodeConfig(strategy="sample", seed=s, max_length=10))[2][0].output)
            for s in range(8)}
    assert len(many) > 1
    top1 = generate(model, side, SOURCES, DecodeConfig(strategy="sample", seed=11, top_k=1, max_length=10))
    greedy_ = generate(model, side, SOURCES, DecodeConfig(max_length=10))
    assert _ids(top1) == _ids(greedy_)
    nucleus = generate(model, side, SOURCES, DecodeConfig(strategy="sample", seed=11, top_p=1e-6, max_length=10))
    assert _ids(nucleus) == _ids(greedy_)


def test_a_generator_makes_sample_reproducible(make_model, make_batch):
    model = make_model(seed=1)
    src, lengths = make_batch(1)
    options = DecodeConfig(strategy="sample", max_length=8)
    draws = [[h.output for h in sample(model, src, lengths, options, torch.Generator().manual_seed(s))]
             for s in (3, 3, 4)]
    assert draws[0] == draws[1] != draws[2]


def test_low_temperature_is_greedy(make_model, make_batch):
    model = make_model(seed=2)
    src, lengths = make_batch(2)
    cold = sample(model, src, lengths, DecodeConfig(strategy="sample", temperature=1e-4, max_length=8),
                  torch.Generator().manual_seed(0))
    assert [h.output for h in cold] == [h.output for h in greedy(model, src, lengths, DecodeConfig(max_length=8))]


def test_scores_are_the_models_log_probabilities(make_model, make_batch, teacher_forced_score):
    model = make_model(seed=4)
    src, lengths = make_batch(4)
    # the score is under the model itself, not under the reshaped (tempered, filtered) distribution
    options = DecodeConfig(strategy="sample", temperature=2.0, top_k=5, max_length=12)
    for i, h in enumerate(sample(model, src, lengths, options, torch.Generator().manual_seed(1))):
        assert h.score == pytest.approx(teacher_forced_score(model, src[i], lengths[i], h.output), abs=1e-4)
        assert EOS not in h.output


def test_min_length(make_model, make_batch):
    model = make_model(seed=5)
    with torch.no_grad():
        model.head.output.bias[EOS] += 5.0
    src, lengths = make_batch(5)
    hyps = sample(model, src, lengths, DecodeConfig(strategy="sample", min_length=4, max_length=9),
                  torch.Generator().manual_seed(0), keep_attention=True)
    assert all(4 <= len(h.output) <= 9 for h in hyps)
    assert all(h.attention.size(0) == min(len(h.output) + 1, 9) for h in hyps)


def test_top_k_keeps_the_k_largest():
    logits = torch.tensor([[1.0, 4.0, 3.0, 2.0], [0.0, -1.0, 5.0, 5.5]])
    out = filter_logits(logits, 2, 1.0)
    assert torch.isinf(out).tolist() == [[True, False, False, True], [True, True, False, False]]
    assert torch.equal(out[~torch.isinf(out)], logits[~torch.isinf(out)])  # the others unchanged
    assert torch.equal(filter_logits(logits, 0, 1.0), logits)  # 0: all
    assert torch.equal(filter_logits(logits, 10, 1.0), logits)  # more than the vocabulary: all


def test_top_p_keeps_the_smallest_set_holding_the_mass():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    kept = lambda p: (~torch.isinf(filter_logits(logits, 0, p))).tolist()[0]  # noqa: E731
    assert kept(0.5) == [True, False, False, False]
    assert kept(0.6) == [True, True, False, False]
    assert kept(0.79) == [True, True, False, False]
    assert kept(0.81) == [True, True, True, False]
    assert kept(1e-9) == [True, False, False, False]  # the most likely token always survives
    assert kept(1.0) == [True] * 4
    shuffled = logits[:, [2, 0, 3, 1]]
    assert (~torch.isinf(filter_logits(shuffled, 0, 0.6))).tolist()[0] == [False, True, False, True]


def test_top_k_and_top_p_together():
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    assert (~torch.isinf(filter_logits(logits, 3, 0.95))).tolist()[0] == [True, True, True, False]
    assert (~torch.isinf(filter_logits(logits, 1, 0.95))).tolist()[0] == [True, False, False, False]
