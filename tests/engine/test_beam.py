"""The ONNX engine's beam search: beam 1 is greedy, n-best lists are ranked, the length penalty twin equals
torch's, a batch gives what each sentence gives alone."""

import numpy as np
import pytest
import torch

from seq2seq.engine import load_exported
from seq2seq.search.beam import length_penalty as penalty_of
from seq2seq.search.ops import NumpyOps
from seq2seq.search.torch_ops import TorchOps

TEXTS = ["abc", "hello", "j", "abcdefghijabc", "gfedcba", "aaaa"]

def length_penalty(length, alpha):  # the numpy engine's
    return penalty_of(length, alpha, NumpyOps())


def torch_penalty(length, alpha):
    return penalty_of(length, alpha, TorchOps(length.device))


@pytest.fixture(scope="module")
def model(tiny_export):
    return load_exported(tiny_export[1], threads=1)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_length_penalty_equals_torch(alpha):
    lengths = np.array([0, 1, 5, 30])
    np.testing.assert_allclose(length_penalty(lengths, alpha), torch_penalty(torch.from_numpy(lengths), alpha).numpy())


def test_beam_one_is_greedy(model):
    greedy = model.translate(TEXTS, beam=1)
    beam = model.translate(TEXTS, beam=2, nbest=1)
    one = model.translate(TEXTS, options=model.decode_options(strategy="beam", beam_size=1))
    for g, b in zip(greedy, one):
        assert b[0].text == g[0].text and b[0].score == pytest.approx(g[0].score, abs=1e-5)
    assert all(b[0].score >= g[0].score - 1e-5 for g, b in zip(greedy, beam))


def test_nbest_lists_are_ranked_and_distinct(model):
    out = model.translate(TEXTS, beam=5, nbest=4)
    for hyps in out:
        assert len(hyps) == 4
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert len({h.text for h in hyps}) == 4


def test_batched_beam_equals_one_by_one(model):
    batched = model.translate(TEXTS, beam=4, nbest=2, alpha=0.6)
    for text, result in zip(TEXTS, batched):
        alone = model.translate([text], beam=4, nbest=2, alpha=0.6)[0]
        assert [h.text for h in alone] == [h.text for h in result]
        np.testing.assert_allclose([h.score for h in alone], [h.score for h in result], atol=1e-5)


def test_max_length_caps_and_min_length_holds(model):
    out = model.translate(TEXTS, beam=3, max_length=2)
    assert all(len(r[0].tokens) <= 2 for r in out)
    out = model.translate(TEXTS, beam=3, min_length=5, max_length=8)
    assert all(5 <= len(r[0].tokens) <= 8 for r in out)
