"""Batching: collate with token and feature sides, length bucketing, seeded order, token budgets, inference order."""

import random

import numpy as np
import pytest
import torch

from seq2seq.data.batching import collate, make_batches, sort_for_inference
from seq2seq.data.sides import FeatureSide, TokenSide
from seq2seq.data.tokenizers import build_tokenizer
from seq2seq.data.vocab import BOS, EOS, PAD, Vocab

TOKENS = TokenSide(build_tokenizer("char"), Vocab.build([list("abcdefghi")]))


def _mask(lengths, width):
    return (torch.arange(width)[None] < lengths[:, None]).tolist()


def test_collate_pads_and_adds_bos_eos():
    batch = collate([([5, 6, 7], [8]), ([9], [10, 11, 12])], TOKENS, TOKENS, indices=[4, 2])
    assert batch.src.tolist() == [[5, 6, 7], [9, PAD, PAD]]
    assert batch.src_lengths.tolist() == [3, 1]
    assert batch.tgt_in.tolist() == [[BOS, 8, PAD, PAD], [BOS, 10, 11, 12]]
    assert batch.tgt_out.tolist() == [[8, EOS, PAD, PAD], [10, 11, 12, EOS]]
    assert batch.tgt_lengths.tolist() == [2, 4]
    assert _mask(batch.src_lengths, batch.src.size(1)) == [[True, True, True], [True, False, False]]
    assert _mask(batch.tgt_lengths, batch.tgt_out.size(1)) == [[True, True, False, False], [True] * 4]
    assert (batch.tgt_out != PAD).tolist() == _mask(batch.tgt_lengths, batch.tgt_out.size(1))
    assert int(batch.tgt_lengths.sum()) == 6 and batch.indices == [4, 2] and len(batch) == 2
    assert batch.src.dtype == torch.long
    moved = batch.to("cpu")
    assert torch.equal(moved.tgt_out, batch.tgt_out) and moved.indices == [4, 2]


def test_collate_indices_default_to_positions():
    assert collate([([5], [6]), ([7], [8]), ([9], [4])], TOKENS, TOKENS).indices == [0, 1, 2]


def test_collate_feature_source_and_token_target():
    source = FeatureSide(2)
    examples = [(np.ones((3, 2), np.float32), [8]), (np.full((1, 2), 2.0, np.float32), [10, 11])]
    batch = collate(examples, source, TOKENS)
    assert batch.src.shape == (2, 3, 2) and batch.src.dtype == torch.float32
    assert batch.src_lengths.tolist() == [3, 1] and torch.all(batch.src[1, 1:] == 0)
    assert batch.tgt_in.tolist() == [[BOS, 8, PAD], [BOS, 10, 11]]
    assert batch.tgt_out.tolist() == [[8, EOS, PAD], [10, 11, EOS]]
    assert batch.tgt_lengths.tolist() == [2, 3]


def test_collate_token_source_and_feature_target():
    target = FeatureSide(1)
    examples = [([5, 6], np.array([[1.0], [2.0]], np.float32)), ([7], np.array([[3.0]], np.float32))]
    batch = collate(examples, TOKENS, target, indices=[9, 3])
    assert batch.src.tolist() == [[5, 6], [7, PAD]] and batch.src_lengths.tolist() == [2, 1]
    assert batch.tgt_in.tolist() == [[[0.0], [1.0]], [[0.0], [3.0]]]
    assert batch.tgt_out[0].tolist() == [[1.0], [2.0]] and batch.tgt_out[1, 0].item() == 3.0
    assert torch.isnan(batch.tgt_out[1, 1]).all()
    assert batch.tgt_lengths.tolist() == [2, 1] and batch.indices == [9, 3]
    assert (~torch.isnan(batch.tgt_out[..., 0])).tolist() == _mask(batch.tgt_lengths, 2)
    moved = batch.to("cpu")
    assert torch.equal(moved.tgt_in, batch.tgt_in) and moved.indices == [9, 3]


def _mixed_lengths(n=3000, seed=0):
    rng = random.Random(seed)
    src = [rng.randint(5, 60) for _ in range(n)]
    return src, [max(1, s + rng.randint(-3, 3)) for s in src]


def _padding_ratio(batch, lengths):
    longest = max(lengths[i] for i in batch)
    return 1 - sum(lengths[i] for i in batch) / (longest * len(batch))


def test_bucketing_cuts_padding_in_every_batch():
    src, tgt = _mixed_lengths()
    bucketed = make_batches(src, tgt, 32, seed=1).tolist()
    plain = make_batches(src, tgt, 32, bucket=False, seed=1).tolist()
    worst_bucketed = max(_padding_ratio(b, tgt) for b in bucketed)
    best_plain = min(_padding_ratio(b, tgt) for b in plain)
    assert worst_bucketed < best_plain
    assert sorted(i for b in bucketed for i in b) == list(range(len(src)))


def test_bucketing_sorts_by_target_length_first():
    rng = random.Random(2)
    src = [rng.randint(5, 60) for _ in range(640)]
    tgt = [rng.randint(5, 60) for _ in range(640)]  # unrelated to the source lengths
    for batch in make_batches(src, tgt, 32, seed=1).tolist():
        assert max(tgt[i] for i in batch) - min(tgt[i] for i in batch) <= 5


def test_deterministic_per_seed_and_epoch():
    src, tgt = _mixed_lengths(500)
    first = make_batches(src, tgt, 16, seed=3, epoch=0).tolist()
    assert make_batches(src, tgt, 16, seed=3, epoch=0).tolist() == first
    assert make_batches(src, tgt, 16, seed=3, epoch=1).tolist() != first
    assert make_batches(src, tgt, 16, seed=4, epoch=0).tolist() != first
    assert make_batches(np.array(src), np.array(tgt), 16, seed=3, epoch=0).tolist() == first
    assert make_batches(src, tgt, 16, seed=-3, epoch=0).tolist() != first  # any integer seeds


def test_no_shuffle_no_bucket_keeps_order():
    assert make_batches([3, 1, 2, 5, 4], [1] * 5, 2, bucket=False, shuffle=False).tolist() == [[0, 1], [2, 3], [4]]


def test_token_batches_respect_the_limit():
    src, tgt = _mixed_lengths(1000)
    for bucket in (True, False):
        batches = make_batches(src, tgt, 400, by="tokens", bucket=bucket, seed=0).tolist()
        assert sorted(i for b in batches for i in b) == list(range(1000))
        for b in batches:
            assert len(b) * max(max(src[i], tgt[i]) for i in b) <= 400
    assert make_batches([50, 2], [1, 1], 10, by="tokens", shuffle=False).tolist() == [[1], [0]]  # too long: alone


def test_sort_for_inference_restores_order():
    lengths = [3, 9, 1, 7, 7, 2]
    batches = sort_for_inference(lengths, 4)
    assert batches == [[1, 3, 4, 0], [5, 2]]
    outputs = {}
    for b in batches:
        for i in collate([([4] * lengths[i], [5]) for i in b], TOKENS, TOKENS, indices=b).indices:
            outputs[i] = lengths[i]
    assert [outputs[i] for i in range(len(lengths))] == lengths


def test_a_plan_slices_filters_and_holds_no_python_ints():
    src, tgt = _mixed_lengths(1000)
    plan = make_batches(src, tgt, 7, seed=2)
    assert isinstance(plan.order, np.ndarray) and plan.order.dtype == np.int32
    assert [b.tolist() for b in plan[2:5]] == plan.tolist()[2:5] and plan[3].tolist() == plan.tolist()[3]
    small = plan.at_least(7)
    assert all(len(b) == 7 for b in small) and len(small) == 1000 // 7
    assert len(make_batches([], [], 4)) == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="sentences, tokens"):
        make_batches([1], [1], 1, by="words")
    with pytest.raises(ValueError, match="batch_size must be positive, got 0"):
        make_batches([1], [1], 0)
    with pytest.raises(ValueError):
        make_batches([1, 2], [1], 1)  # one target length per source length
