"""Scoring given targets: each token's log-probability, the same batched or one by one, in input order, summing
to the teacher-forced log-probability of the target."""

import pytest
import torch

from seq2seq.decoding.scoring import score_pairs


def test_pairs_are_scored_in_input_order_whatever_the_batch(make_model, side, teacher_forced_score):
    model = make_model("luong", seed=2)
    texts = [("abc", "cba"), ("h", ""), ("abcdefgh", "hgf"), ("de", "ed")]
    pairs = [(side.encode(s), side.encode(t)) for s, t in texts]
    one = score_pairs(model, side, side, pairs, batch_size=1)
    for a, b in zip(one, score_pairs(model, side, side, pairs, batch_size=64)):
        assert a == pytest.approx(b, abs=1e-5)
    assert [len(s) for s in one] == [4, 1, 4, 3]  # each token and </s>
    for (source, target), scores in zip(pairs, one):
        src = torch.tensor(source)
        expected = teacher_forced_score(model, src, torch.tensor(len(source)), list(target))
        assert sum(scores) == pytest.approx(expected, abs=1e-4)
