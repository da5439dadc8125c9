"""The ONNX engine's greedy search and sampling: the filter twin equals torch's, sampling is seeded and draws
only what the filters allow, greedy keeps every row's result when rows leave the batch."""

import numpy as np
import pytest
import torch

from seq2seq.decoding import filter_logits as torch_filter
from seq2seq.engine import load_exported
from seq2seq.search.ops import filter_logits

TEXTS = ["abc", "hello", "j", "abcdefghijabc", "gfedcba", "aaaa"]


@pytest.mark.parametrize("top_k,top_p", [(0, 1.0), (3, 1.0), (0, 0.7), (4, 0.5), (20, 0.2), (1, 1.0)])
def test_filter_logits_equals_torch(top_k, top_p):
    logits = torch.randn(5, 12, generator=torch.Generator().manual_seed(top_k))
    expected = torch_filter(logits, top_k, top_p).numpy()
    got = filter_logits(logits.numpy(), top_k, top_p)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    np.testing.assert_allclose(got[~np.isinf(got)], expected[~np.isinf(expected)])


@pytest.fixture(scope="module")
def model(tiny_export):
    return load_exported(tiny_export[1], threads=1)


def test_sampling_is_seeded_and_top_k_one_is_greedy(model):
    first = model.translate(TEXTS, sample=True, seed=3, temperature=2.0)
    again = model.translate(TEXTS, sample=True, seed=3, temperature=2.0)
    other = model.translate(TEXTS, sample=True, seed=4, temperature=2.0)
    assert [r[0].text for r in first] == [r[0].text for r in again]
    assert [r[0].text for r in first] != [r[0].text for r in other]
    greedy = model.translate(TEXTS, beam=1)
    only_best = model.translate(TEXTS, sample=True, top_k=1, seed=9)
    assert [r[0].text for r in only_best] == [r[0].text for r in greedy]
    for a, b in zip(only_best, greedy):
        assert a[0].score == pytest.approx(b[0].score, abs=1e-5)


def test_sampling_nbest_draws_and_min_length(model):
    out = model.translate(TEXTS, sample=True, nbest=3, seed=1, min_length=4, temperature=1.5)
    assert all(len(r) == 3 for r in out)
    assert all(len(h.tokens) >= 4 for r in out for h in r)
    assert len({h.text for h in out[3]}) > 1


def test_greedy_one_by_one_equals_batched(model):
    batched = model.translate(TEXTS, beam=1, attention=True)
    for text, result in zip(TEXTS, batched):
        alone = model.translate([text], beam=1, attention=True)[0][0]
        assert alone.text == result[0].text
        assert alone.score == pytest.approx(result[0].score, abs=1e-5)
        np.testing.assert_allclose(alone.attention, result[0].attention, atol=1e-6)
