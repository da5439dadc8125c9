"""`generate`: many sources batched by length, results in input order, batching changes nothing, sampling's
n-best draws, attention cut to each source, and the model's mode left as it was."""

import dataclasses

import numpy as np
import pytest
import torch

from seq2seq import build_config
from seq2seq.config import DecodeConfig
from seq2seq.data.sides import FeatureSide
from seq2seq.data.vocab import EOS, PAD
from seq2seq.decoding import beam_search, generate, greedy
from seq2seq.decoding import one_best as single
from seq2seq.models import build_model
from seq2seq.search.rules import max_token_steps as caps_of
from seq2seq.search.torch_ops import TorchOps

SOURCES = [[5, 6, 7], [8, 9, 10, 11, 5, 6], [4], [7, 7, 8, 9], [10, 11], [4, 5, 6, 7, 8, 9, 10]]

def max_token_steps(src_lengths, options):
    return caps_of(src_lengths, options, TorchOps(src_lengths.device))


def _outputs(results):
    return [[h.output for h in hyps] for hyps in results]


@pytest.mark.parametrize("options", [DecodeConfig(max_length=9),
                                     DecodeConfig(strategy="beam", beam_size=3, nbest=2, max_length=9)],
                         ids=["greedy", "beam"])
def test_batch_size_changes_nothing(options, make_model, side):
    # (sampling: one generator draws for the whole batch, so its draws depend on the batching)
    model = make_model("luong", seed=1)
    results = [generate(model, side, SOURCES, dataclasses.replace(options, batch_size=b)) for b in (1, 2, 64)]
    assert _outputs(results[0]) == _outputs(results[1]) == _outputs(results[2])
    for a, b in zip(results[0], results[2]):
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-5)
    assert [len(h) for h in results[0]] == [options.nbest] * len(SOURCES)


def test_results_come_in_input_order(make_model, side):
    model = make_model(seed=2)
    options = DecodeConfig(max_length=9, batch_size=4)
    results = generate(model, side, SOURCES, options, keep_attention=True)
    for source, hyps in zip(SOURCES, results):
        src = torch.tensor([source])
        alone = greedy(model, src, torch.tensor([len(source)]), options, keep_attention=True)[0]
        assert hyps[0].output == alone.output
        assert hyps[0].attention.shape == (alone.attention.size(0), len(source))


@pytest.mark.parametrize("batch_size", [1, 4, 64])
def test_sampling_nbest_draws_use_seed_after_seed(batch_size, make_model, side):
    model = make_model(seed=3)
    options = DecodeConfig(strategy="sample", nbest=3, seed=5, max_length=9, batch_size=batch_size)
    results = generate(model, side, SOURCES, options)
    for j in range(3):
        one = generate(model, side, SOURCES, dataclasses.replace(options, nbest=1, seed=5 + j))
        assert [hyps[j].output for hyps in results] == [h[0].output for h in one]
    assert len({tuple(h.output) for hyps in results for h in hyps}) > len(SOURCES)  # the draws differ


def test_beam_nbest_matches_beam_search(make_model, side):
    model = make_model(seed=4)
    options = DecodeConfig(strategy="beam", beam_size=4, nbest=3, max_length=9)
    results = generate(model, side, SOURCES, options)
    for source, hyps in zip(SOURCES, results):
        alone = beam_search(model, torch.tensor([source]), torch.tensor([len(source)]), options)[0]
        assert [h.output for h in hyps] == [h.output for h in alone]


def test_lengths_caps_min_length_and_attention(make_model, side):
    model = make_model(seed=4)
    sources = [[5, 6, 7], [8, 9, 10, 11, 5, 6]]
    for strategy in ("greedy", "beam"):
        out = generate(model, side, sources, DecodeConfig(strategy=strategy, beam_size=3, max_length=4),
                       keep_attention=True)
        for hyps, src in zip(out, sources):
            h = hyps[0]
            assert len(h.output) <= 4
            assert EOS not in h.output and PAD not in h.output
            assert h.attention.shape[1] == len(src)
            assert torch.allclose(h.attention.sum(-1), torch.ones(h.attention.size(0)), atol=1e-5)
        long = generate(model, side, sources, DecodeConfig(strategy=strategy, beam_size=3, min_length=5,
                                                           max_length=8))
        assert all(len(h[0].output) >= 5 for h in long)
    assert max_token_steps(torch.tensor([3, 10]), DecodeConfig(max_length_a=1.5, max_length_b=2)).tolist() == [6, 17]


def test_empty_source_counts_one_pad(make_model, side):
    model = make_model(seed=5)
    results = generate(model, side, [[], [5, 6]], DecodeConfig(max_length=5), keep_attention=True)
    assert results[0][0].attention.shape[1] == 0  # cut to the source's (empty) length
    alone = greedy(model, torch.tensor([[PAD]]), torch.tensor([1]), DecodeConfig(max_length=5))[0]
    assert results[0][0].output == alone.output


def test_generation_does_not_build_graphs(make_model, side):
    model = make_model(seed=5).train()
    hyps = generate(model, side, [[5, 6]], DecodeConfig(strategy="beam", beam_size=2), keep_attention=True)
    assert hyps[0][0].attention is not None and not hyps[0][0].attention.requires_grad
    assert model.training
    model.eval()
    generate(model, side, [[5, 6]], DecodeConfig())
    assert not model.training


def test_feature_sources_and_targets():
    cfg = build_config(overrides={"data.source_type": "features", "data.target_type": "features",
                                  "model.embedding_size": 8, "model.encoder_hidden": 16, "model.decoder_hidden": 16,
                                  "model.attention": "concat", "data.target_length": 3})
    torch.manual_seed(0)
    model = build_model(cfg, 2, 1)
    rng = np.random.default_rng(0)
    sources = [rng.normal(size=(n, 2)).astype(np.float32) for n in (4, 1, 6)]
    results = generate(model, FeatureSide(2), sources, dataclasses.replace(cfg.decode, batch_size=2),
                       keep_attention=True)
    for source, hyps in zip(sources, results):
        h = hyps[0]
        assert isinstance(h.output, torch.Tensor) and h.output.shape == (3, 1)
        assert h.attention.shape == (3, len(source))
        alone = greedy(model, torch.from_numpy(source)[None], torch.tensor([len(source)]), cfg.decode)[0]
        torch.testing.assert_close(h.output, alone.output, atol=1e-5, rtol=1e-5)


def test_single():
    options = DecodeConfig(strategy="beam", beam_size=4, nbest=3)
    one = single(options)
    assert one.nbest == 1 and one.beam_size == 4 and options.nbest == 3
    assert single(one) is one
