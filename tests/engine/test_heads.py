"""The numpy twins of the heads' generation rules equal the torch originals: choices, blanks, caps, finish."""

import dataclasses

import numpy as np
import pytest
import torch

from seq2seq.config import DecodeConfig
from seq2seq.data.vocab import EOS, PAD
from seq2seq.engine import heads as twins
from seq2seq.models.heads import TokenHead, VectorHead
from seq2seq.search.ops import NumpyOps
from seq2seq.search.rules import max_token_steps as caps_of
from seq2seq.search.torch_ops import TorchOps

LENGTHS = np.array([1, 3, 7, 12])
OPTIONS = [DecodeConfig(), DecodeConfig(max_length=5), DecodeConfig(max_length_a=0.5, max_length_b=0),
           DecodeConfig(max_length_a=1.3, max_length_b=2)]


@pytest.mark.parametrize("options", OPTIONS)
def test_length_caps_equal(options):
    expected = caps_of(torch.from_numpy(LENGTHS), options, TorchOps(torch.device("cpu"))).numpy()
    np.testing.assert_array_equal(caps_of(LENGTHS, options, NumpyOps()), expected)


@pytest.mark.parametrize("step,min_length", [(0, 0), (0, 2), (3, 2)])
def test_token_choice_equals(step, min_length):
    scores = torch.randn(6, 9, generator=torch.Generator().manual_seed(step))
    scores[2, EOS] = 10.0  # one row wants to stop
    options = DecodeConfig(min_length=min_length)
    expected = TokenHead(9, 4).choose(scores, step, options)
    best = scores.log_softmax(-1).topk(2, -1)  # what the step graph gives greedy search
    got = twins.TokenRules(9).choose((best.values.numpy(), best.indices.numpy()), step, options)
    np.testing.assert_array_equal(got.output, expected.output.numpy())
    np.testing.assert_array_equal(got.ended, expected.ended.numpy())
    np.testing.assert_allclose(got.score, expected.score.numpy(), atol=1e-6)
    assert bool(got.ended[2]) == (step >= min_length)


def test_token_blank_caps_finish_equal():
    head, rules = TokenHead(9, 4), twins.TokenRules(9)
    assert rules.blank(3, np.zeros(3)).tolist() == head.blank(3, torch.zeros(3)).tolist() == [PAD] * 3
    caps, stop = rules.max_steps(LENGTHS, DecodeConfig())
    torch_caps, torch_stop = head.max_steps(torch.from_numpy(LENGTHS), DecodeConfig())
    assert caps.tolist() == torch_caps.tolist() and stop == torch_stop
    for ids in ([5, 6, EOS], [5, 6], []):
        assert rules.finish(np.array(ids, dtype=np.int64)) == head.finish(torch.tensor(ids, dtype=torch.long))


@pytest.mark.parametrize("stop_flag,target_length,mode", [
    (False, None, "auto"), (True, None, "auto"), (False, 4, "auto"), (True, 4, "stop"), (False, 4, "source"),
    (True, None, "fixed")])
def test_vector_rules_equal(stop_flag, target_length, mode):
    head = VectorHead(2, 4, stop_flag=stop_flag, target_length=target_length)
    rules = twins.VectorRules(2, stop_flag, target_length)
    options = dataclasses.replace(DecodeConfig(), feature_length=mode)
    caps, stop = rules.max_steps(LENGTHS, options)
    torch_caps, torch_stop = head.max_steps(torch.from_numpy(LENGTHS), options)
    assert caps.tolist() == torch_caps.tolist() and stop == torch_stop
    scores = torch.tensor([[0.5, 1.0, 2.0], [1.5, -1.0, -3.0]])[:, : 2 + int(stop_flag)]
    expected, got = head.choose(scores, 0, options), rules.choose(scores.numpy(), 0, options)
    np.testing.assert_array_equal(got.output, expected.output.numpy())
    np.testing.assert_array_equal(got.ended, expected.ended.numpy())
    assert rules.blank(2, scores.numpy()).tolist() == head.blank(2, scores).tolist()
