"""Output heads: token and vector targets - the output layer (tied or not), loss, accuracy, how generation
starts, chooses, ends and how long it may run."""

import math

import pytest
import torch
import torch.nn.functional as F

from seq2seq import build_config
from seq2seq.config import DecodeConfig
from seq2seq.data.vocab import BOS, EOS, PAD
from seq2seq.models.heads import HEADS, TokenHead, VectorHead
from seq2seq.models.inputs import FeatureProjection, TokenEmbedding
from seq2seq.search.rules import max_token_steps as caps_of
from seq2seq.search.torch_ops import TorchOps

V = 9

def max_token_steps(src_lengths, options):
    return caps_of(src_lengths, options, TorchOps(src_lengths.device))


def _token_head(tie=False, pre=6, emb=4):
    torch.manual_seed(0)
    head = TokenHead(V, emb, tie)
    head.attach(pre)
    return head


def _vector_head(stop_flag=False, loss="mse", target_length=None, dim=2):
    torch.manual_seed(0)
    head = VectorHead(dim, 4, loss, stop_flag, target_length)
    head.attach(6)
    return head


def test_registry_and_from_config():
    assert HEADS == {"tokens": TokenHead, "features": VectorHead}
    cfg = build_config(overrides={"model.embedding_size": 5, "model.tie_embeddings": True})
    head = HEADS["tokens"].from_config(cfg, 11)
    assert isinstance(head.input, TokenEmbedding) and head.vocab_size == 11 and head.tie
    cfg = build_config(overrides={"data.task": "sine", "model.stop_flag": True, "train.feature_loss": "l1"})
    head = HEADS["features"].from_config(cfg, 3)
    assert isinstance(head.input, FeatureProjection) and head.input.in_features == 3
    assert (head.dim, head.stop_flag, head.loss_kind, head.target_length) == (3, True, "l1", 10)


# --- the token head ---

def test_token_output_layer():
    head = _token_head()
    assert head.output.in_features == 6 and head.output.out_features == V
    pre = torch.randn(2, 3, 6)
    torch.testing.assert_close(head(pre), head.output(pre))


@pytest.mark.parametrize("pre, emb", [(6, 4), (4, 4)])
def test_tied_embeddings_share_the_weights(pre, emb):
    head = _token_head(tie=True, pre=pre, emb=emb)
    assert not hasattr(head, "output") and (head.tie_proj is None) == (pre == emb)
    x = torch.randn(3, pre)
    projected = x if head.tie_proj is None else head.tie_proj(x)
    torch.testing.assert_close(head(x), projected @ head.input.weight.T + head.output_bias)
    head(x).sum().backward()
    assert head.input.weight.grad.abs().sum() > 0
    assert head.output_bias.shape == (V,)


def test_token_loss_ignores_pad_and_counts_real_targets():
    head = _token_head()
    scores = torch.randn(2, 4, V, generator=torch.Generator().manual_seed(1))
    tgt = torch.tensor([[4, 5, EOS, PAD], [6, EOS, PAD, PAD]])
    loss, n = head.loss(scores, tgt)
    assert n == 5
    manual = F.cross_entropy(scores[0, :3], tgt[0, :3], reduction="sum") + \
        F.cross_entropy(scores[1, :2], tgt[1, :2], reduction="sum")
    torch.testing.assert_close(loss, manual)
    smooth, n_smooth = head.loss(scores, tgt, label_smoothing=0.1)
    assert n_smooth == 5 and smooth.item() != pytest.approx(loss.item())
    with pytest.raises(ValueError, match=r"loss needs scores \(B, T, V\) and tgt_out \(B, T\), got \(2, 4, 9\) and "
                                         r"\(2, 3\)"):
        head.loss(scores, tgt[:, :3])


def test_token_correct_and_summary():
    head = _token_head()
    scores = torch.full((1, 4, V), -1.0)
    scores[0, torch.arange(4), torch.tensor([4, 5, 6, 7])] = 1.0
    assert head.correct(scores, torch.tensor([[4, 8, 6, PAD]])) == 2  # <pad> never counts
    summary = head.summary(math.log(3.0), 0.5)
    assert summary == {"loss": math.log(3.0), "perplexity": pytest.approx(3.0), "token_accuracy": 0.5}
    assert head.summary(1e6, 0.0)["perplexity"] == math.exp(50.0)  # capped


def test_token_generation_steps():
    head = _token_head()
    assert head.start(3, torch.device("cpu")).tolist() == [BOS] * 3
    assert head.blank(2, torch.zeros(1)).tolist() == [PAD, PAD]
    tgt_in = torch.tensor([[BOS, 4]])
    assert head.teacher_inputs(tgt_in) is tgt_in
    scores = torch.randn(2, V)
    assert head.feedback(scores).tolist() == scores.argmax(-1).tolist()
    assert head.finish(torch.tensor([4, 5, EOS])) == [4, 5]
    assert head.finish(torch.tensor([4, 5])) == [4, 5] and head.finish(torch.tensor([], dtype=torch.long)) == []


def test_token_choose_is_greedy_with_min_length():
    head = _token_head()
    scores = torch.zeros(2, V)
    scores[0, EOS], scores[0, 5] = 3.0, 2.0
    scores[1, 6] = 1.0
    choice = head.choose(scores, 0, DecodeConfig())
    assert choice.output.tolist() == [EOS, 6] and choice.feed.tolist() == [EOS, 6]
    assert choice.ended.tolist() == [True, False]
    torch.testing.assert_close(choice.score, scores.log_softmax(-1)[[0, 1], [EOS, 6]])
    barred = head.choose(scores, 1, DecodeConfig(min_length=2))
    assert barred.output.tolist() == [5, 6] and not barred.ended.any()
    # the score is the model's log-probability, not renormalised over the tokens allowed
    torch.testing.assert_close(barred.score, scores.log_softmax(-1)[[0, 1], [5, 6]])
    assert head.choose(scores, 2, DecodeConfig(min_length=2)).output.tolist() == [EOS, 6]


def test_length_caps():
    lengths = torch.tensor([3, 10])
    assert max_token_steps(lengths, DecodeConfig(max_length_a=1.5, max_length_b=2)).tolist() == [6, 17]
    assert max_token_steps(lengths, DecodeConfig(max_length=4)).tolist() == [4, 4]
    assert max_token_steps(lengths, DecodeConfig(max_length_a=0.0, max_length_b=0)).tolist() == [1, 1]  # at least 1
    assert max_token_steps(lengths, DecodeConfig()).tolist() == [16, 30]  # 2x + 10
    caps, use_stop = _token_head().max_steps(lengths, DecodeConfig(max_length=7))
    assert caps.tolist() == [7, 7] and use_stop is True


# --- the vector head ---

@pytest.mark.parametrize("stop_flag", [False, True])
def test_vector_output_layer(stop_flag):
    head = _vector_head(stop_flag)
    assert head.output.in_features == 6 and head.output.out_features == 2 + stop_flag
    assert head(torch.randn(3, 6)).shape == (3, 2 + stop_flag)


def test_vector_teacher_inputs_start_and_feedback():
    head = _vector_head(stop_flag=True)
    with torch.no_grad():
        head.start_vector.copy_(torch.tensor([0.5, -0.5]))
    tgt_in = torch.arange(12.0).view(2, 3, 2)
    inputs = head.teacher_inputs(tgt_in)
    assert inputs[:, 0].tolist() == [[0.5, -0.5]] * 2 and torch.equal(inputs[:, 1:], tgt_in[:, 1:])
    assert head.start(3, torch.device("cpu")).tolist() == [[0.5, -0.5]] * 3
    scores = torch.tensor([[1.0, 2.0, 9.0]], requires_grad=True)
    fed = head.feedback(scores)
    assert fed.tolist() == [[1.0, 2.0]] and not fed.requires_grad
    assert head.blank(2, scores).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    steps = torch.randn(4, 2)
    assert head.finish(steps) is steps
    assert head.correct(scores.unsqueeze(0), tgt_in) == 0 and head.summary(0.25, 0.0) == {"loss": 0.25}


@pytest.mark.parametrize("kind", ["mse", "l1"])
def test_vector_loss_masks_nan_padding(kind):
    head = _vector_head(loss=kind)
    scores = torch.randn(2, 3, 2, generator=torch.Generator().manual_seed(1))
    tgt = torch.randn(2, 3, 2, generator=torch.Generator().manual_seed(2))
    tgt[1, 1:] = float("nan")
    loss, n = head.loss(scores, tgt)
    assert n == 4
    diff = scores - tgt
    err = diff.pow(2) if kind == "mse" else diff.abs()
    manual = err[0].mean(-1).sum() + err[1, 0].mean()
    torch.testing.assert_close(loss, manual)
    assert torch.isfinite(loss)
    assert head.loss(scores, tgt, label_smoothing=0.5)[0].item() == pytest.approx(loss.item())  # ignored


def test_vector_loss_stop_flag_fires_at_the_last_real_step():
    head = _vector_head(stop_flag=True)
    tgt = torch.zeros(2, 3, 2)
    tgt[1, 2:] = float("nan")  # lengths 3 and 2
    scores = torch.zeros(2, 3, 3)  # perfect vectors: only the stop flag's BCE remains
    scores[..., 2] = torch.tensor([[-20.0, -20.0, 20.0], [-20.0, 20.0, 5.0]])  # right, right; padding ignored
    loss, n = head.loss(scores, tgt)
    assert n == 5 and loss.item() == pytest.approx(0.0, abs=1e-6)
    scores[0, 2, 2] = -20.0  # misses the last step of row 0
    assert head.loss(scores, tgt)[0].item() == pytest.approx(20.0, abs=1e-3)
    scores = torch.zeros(2, 3, 3)
    assert head.loss(scores, tgt)[0].item() == pytest.approx(5 * math.log(2.0), abs=1e-5)


def test_vector_loss_shape_errors():
    head = _vector_head(stop_flag=True)
    with pytest.raises(ValueError, match=r"loss needs scores \(B, T, 2\+1\) and targets \(B, T, 2\), got "
                                         r"\(2, 3, 3\) and \(2, 3, 3\)"):
        head.loss(torch.zeros(2, 3, 3), torch.zeros(2, 3, 3))
    with pytest.raises(ValueError, match="loss needs scores"):
        head.loss(torch.zeros(2, 3, 3), torch.zeros(2, 4, 2))


def test_vector_choose():
    scores = torch.tensor([[1.0, 2.0, 0.5], [3.0, 4.0, -0.5]])
    choice = _vector_head(stop_flag=True).choose(scores, 0, DecodeConfig())
    assert choice.output.tolist() == [[1.0, 2.0], [3.0, 4.0]] and torch.equal(choice.feed, choice.output)
    assert choice.ended.tolist() == [True, False] and choice.score.tolist() == [0.0, 0.0]
    plain = _vector_head().choose(scores[:, :2], 0, DecodeConfig())
    assert plain.ended.tolist() == [False, False]


@pytest.mark.parametrize("stop_flag, target_length, mode, caps, use_stop", [
    (False, 4, "auto", [4, 4], False),  # auto: fixed when data.target_length is set
    (True, None, "auto", [1, 2], True),  # ... else stop with a stop flag (capped by the max_length rules)
    (False, None, "auto", [3, 10], False),  # ... else the source's length
    (True, 4, "fixed", [4, 4], False),
    (True, 4, "source", [3, 10], False),
    (True, 4, "stop", [1, 2], True),
])
def test_vector_caps_for_every_feature_length_mode(stop_flag, target_length, mode, caps, use_stop):
    head = _vector_head(stop_flag, target_length=target_length)
    options = DecodeConfig(feature_length=mode, max_length_a=0.2, max_length_b=0)
    got, stop = head.max_steps(torch.tensor([3, 10]), options)
    assert got.tolist() == caps and stop is use_stop
    assert got.dtype == torch.long


def test_vector_caps_fixed_without_a_length_and_absolute_cap():
    head = _vector_head()
    assert head.max_steps(torch.tensor([3]), DecodeConfig(feature_length="fixed"))[0].tolist() == [1]
    assert head.max_steps(torch.tensor([3, 8]), DecodeConfig(feature_length="stop", max_length=5))[0].tolist() == [5, 5]


def test_check_names_the_tensor():
    with pytest.raises(ValueError, match="tgt_in must be"):
        _token_head().check("tgt_in", torch.zeros(2, 3, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="tgt_in has vectors of size 3, the model reads 2"):
        _vector_head().check("tgt_in", torch.zeros(2, 3, 3))
    with pytest.raises(ValueError, match="tgt_in has batch size 2, the source has 4"):
        _vector_head().check("tgt_in", torch.zeros(2, 3, 2), batch=4)
