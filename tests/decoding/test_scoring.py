"""Scoring given targets: each token's log-probability through the step interface equals the teacher-forced
forward pass, batched or one by one, in input order."""

import pytest
import torch

from seq2seq.data.vocab import EOS
from seq2seq.decoding.scoring import score_pairs, token_log_probs


@pytest.mark.parametrize("preset, extra", [("luong", {}), ("bahdanau", {"model.attention": "location"}),
                                           ("baseline", {})])
def test_step_scores_equal_the_teacher_forced_forward_pass(preset, extra, make_model, make_batch):
    model = make_model(preset, **extra)
    src, lengths = make_batch()
    g = torch.Generator().manual_seed(5)
    tgt_out = torch.randint(4, 12, (src.size(0), 5), generator=g)
    tgt_out[:, -1] = EOS
    tgt_out[0, 3:] = 0  # a shorter target, padded
    tgt_in = torch.cat([torch.full((src.size(0), 1), 2), tgt_out[:, :-1]], 1)
    tgt_in[0, 4:] = 0
    logp = token_log_probs(model, src, lengths, tgt_in, tgt_out)
    with torch.no_grad():
        forward = model(src, lengths, tgt_in).scores.log_softmax(-1).gather(2, tgt_out.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(logp, forward.masked_fill(tgt_out == 0, 0.0), atol=1e-5, rtol=1e-5)


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
