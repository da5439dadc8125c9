"""Token and feature sides: encode/decode round trips, reversal, padding of sources and targets, steps,
and save/load beside a model."""

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seq2seq.data.reversal import InputReversal
from seq2seq.data.sides import SIDES, FeatureSide, TokenSide
from seq2seq.data.tokenizers import build_tokenizer
from seq2seq.data.vocab import BOS, EOS, PAD, UNK, Vocab

TEXTS = ["hello world", "안녕 세계", "abc"]


def _token_side(reverse=False, kind="char"):
    tok = build_tokenizer(kind)
    return TokenSide(tok, Vocab.build([tok.tokenize(t) for t in TEXTS]), InputReversal(reverse))


def test_sides_registry():
    assert SIDES == {"tokens": TokenSide, "features": FeatureSide}
    assert TokenSide.kind == "tokens" and FeatureSide.kind == "features"


# --- tokens ---

@pytest.mark.parametrize("text", TEXTS + ["", "ollehw"])
def test_token_round_trip(text):
    side = _token_side()
    ids = side.encode(text)
    assert all(isinstance(i, int) and i >= 4 for i in ids) and len(ids) == len(text)
    assert side.decode(ids) == text
    assert side.decode([*ids, EOS, 5, 6]) == text  # stops at </s>
    assert side.output_labels([*ids, EOS]) == list(text)


def test_token_size_unknowns_and_labels():
    side = _token_side(kind="word")
    assert side.size == len(side.vocab) == 4 + 5
    assert side.encode("hello there") == [side.vocab.encode(["hello"])[0], UNK]
    assert side.decode(side.encode("hello there")) == "hello <unk>"
    assert side.labels("hello, world") == ["hello", ",", "world"]


def test_token_reversal_changes_only_what_the_encoder_reads():
    plain, reversed_ = _token_side(), _token_side(reverse=True)
    assert reversed_.encode("abc") == plain.encode("abc")[::-1]
    assert reversed_.labels("abc") == ["a", "b", "c"]  # attention axes stay in reading order
    assert reversed_.reversal.enabled and not plain.reversal.enabled


def test_token_text_lines():
    side = _token_side()
    assert side.parse("a\tb ") == "a\tb " and side.format("xy") == "xy" and side.show("xy") == "xy"


def test_word_outputs_are_readable_unless_tokenized():
    side = _token_side(kind="word")
    assert side.format("hello , there !") == "hello, there!"
    assert side.format("hello , there !", tokenized=True) == "hello , there !"


def test_token_pad_sources():
    side = _token_side()
    src, lengths = side.pad([[5, 6, 7], [8], []])
    assert src.dtype == torch.long and lengths.dtype == torch.long
    assert src.tolist() == [[5, 6, 7], [8, PAD, PAD], [PAD, PAD, PAD]]
    assert lengths.tolist() == [3, 1, 1]  # an empty row counts 1: one <pad>
    src, lengths = side.pad([[]])
    assert src.tolist() == [[PAD]] and lengths.tolist() == [1]


def test_token_pad_targets_frame_with_bos_and_eos():
    side = _token_side()
    tgt_in, tgt_out, lengths = side.pad_target([[5, 6, 7], [8], []])
    assert tgt_in.tolist() == [[BOS, 5, 6, 7], [BOS, 8, PAD, PAD], [BOS, PAD, PAD, PAD]]
    assert tgt_out.tolist() == [[5, 6, 7, EOS], [8, EOS, PAD, PAD], [EOS, PAD, PAD, PAD]]
    assert lengths.tolist() == [4, 2, 1] == [side.steps(r) for r in ([5, 6, 7], [8], [])]
    assert tgt_in.dtype == tgt_out.dtype == torch.long


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(4, 2**40), max_size=12), min_size=1, max_size=20), st.booleans())
def test_token_padding_equals_row_by_row_padding(rows, as_arrays):
    """The vectorised padding gives what padding each row as a list gives, for lists and numpy rows alike."""
    side = _token_side()
    given_rows = [np.array(r, dtype=np.int64) for r in rows] if as_arrays else rows
    width = max(max(len(r) for r in rows), 1)
    src, lengths = side.pad(given_rows)
    assert src.tolist() == [r + [PAD] * (width - len(r)) for r in rows]
    assert lengths.tolist() == [max(len(r), 1) for r in rows]
    tgt_in, tgt_out, steps = side.pad_target(given_rows)
    width = max(len(r) for r in rows) + 1
    assert tgt_in.tolist() == [[BOS, *r] + [PAD] * (width - len(r) - 1) for r in rows]
    assert tgt_out.tolist() == [[*r, EOS] + [PAD] * (width - len(r) - 1) for r in rows]
    assert steps.tolist() == [len(r) + 1 for r in rows]


def test_token_save_load(tmp_path):
    side = _token_side(kind="word")
    side.save(tmp_path, "source")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.tokenizer.json", "source.vocab.json"]
    again = TokenSide.load(tmp_path, "source", InputReversal(True))
    assert again.vocab == side.vocab and again.tokenizer.to_json() == side.tokenizer.to_json()
    assert again.reversal == InputReversal(True)  # not saved: the config decides
    assert again.encode("hello world") == side.encode("hello world")[::-1]


# --- features ---

def test_normalisation_fitted_saved_and_undone(tmp_path):
    train = [np.array([[1.0, 10.0], [3.0, 10.0]]), np.array([[5.0, 10.0]])]
    side = FeatureSide.fit(train, normalise=True, reversal=InputReversal())
    assert np.allclose(side.mean, [3.0, 10.0]) and np.allclose(side.std, [math.sqrt(8 / 3), 1.0])
    enc = side.encode(train[0])
    assert enc.dtype == np.float32 and np.allclose(enc[:, 1], 0.0)
    assert np.allclose(side.decode(enc), train[0])
    side.save(tmp_path, "target")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target.features.json", "target.features.safetensors"]
    again = FeatureSide.load(tmp_path, "target", InputReversal())
    assert np.allclose(again.mean, side.mean) and again.dim == 2
    with pytest.raises(ValueError, match="vector size 3, expected 2"):
        side.encode(np.zeros((2, 3)))
    raw = FeatureSide.fit(train, normalise=False, reversal=InputReversal(True))
    assert raw.mean is None and raw.encode(train[0]).tolist() == [[3.0, 10.0], [1.0, 10.0]]


def test_feature_encode_accepts_series_and_csv():
    side = FeatureSide(1)
    assert side.size == 1
    assert side.encode([1, 2, 3]).tolist() == [[1.0], [2.0], [3.0]]
    assert side.encode("1 2 3").tolist() == [[1.0], [2.0], [3.0]]
    two = FeatureSide(2, np.array([1.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32), InputReversal(True))
    enc = two.encode("1 5; 3 6")
    assert enc.tolist() == [[1.0, 6.0], [0.0, 5.0]]  # normalised, then reversed
    assert enc.flags["C_CONTIGUOUS"]
    for bad, message in (("1 nan; 2 3", "non-finite"), (np.zeros((0, 2)), "empty sequence")):
        with pytest.raises(ValueError, match=message):
            two.encode(bad)


def test_feature_decode_undoes_normalisation_from_a_tensor():
    side = FeatureSide(2, np.array([1.0, -1.0], np.float32), np.array([2.0, 0.5], np.float32))
    out = side.decode(torch.tensor([[0.0, 0.0], [1.0, 2.0]], requires_grad=True))
    assert isinstance(out, np.ndarray) and out.tolist() == [[1.0, -1.0], [3.0, 0.0]]
    assert np.array_equal(FeatureSide(2).decode(np.array([[7.0, 8.0]])), [[7.0, 8.0]])
    values = np.random.default_rng(0).normal(size=(4, 2))
    assert np.allclose(side.decode(side.encode(values)), values, atol=1e-6)


def test_feature_labels_lines_and_display():
    side = FeatureSide(1)
    assert side.labels("1 2 3") == ["0", "1", "2"] and side.labels(np.zeros((2, 1))) == ["0", "1"]
    assert side.output_labels(torch.zeros(4, 1)) == ["0", "1", "2", "3"]
    assert side.parse("1 2;").tolist() == [[1.0, 2.0]]
    assert side.format(np.array([[1.5], [2.0]])) == "1.5 2"
    assert side.show(np.ones((50, 1))) == " ".join(["1"] * 50)
    assert side.show(np.ones((51, 1))) == "(51 frames)"


def test_feature_constant_dimension_is_only_centred():
    side = FeatureSide.fit([np.array([[2.0, 1.0], [2.0, 3.0]])], normalise=True, reversal=InputReversal())
    assert side.std.tolist() == [1.0, 1.0] and side.mean.tolist() == [2.0, 2.0]
    assert side.mean.dtype == side.std.dtype == np.float32


def test_feature_pad_sources_with_zeros():
    side = FeatureSide(2)
    rows = [np.ones((3, 2), np.float32), 2 * np.ones((1, 2), np.float32)]
    src, lengths = side.pad(rows)
    assert src.shape == (2, 3, 2) and src.dtype == torch.float32 and lengths.tolist() == [3, 1]
    assert src[1, 0].tolist() == [2.0, 2.0] and torch.all(src[1, 1:] == 0)


def test_feature_pad_targets_nan_padding_and_shifted_inputs():
    side = FeatureSide(2)
    rows = [np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32), np.array([[7.0, 8.0]], np.float32)]
    tgt_in, tgt_out, lengths = side.pad_target(rows)
    assert tgt_out.shape == tgt_in.shape == (2, 3, 2) and lengths.tolist() == [3, 1]
    assert tgt_out[0].tolist() == rows[0].tolist() and tgt_out[1, 0].tolist() == [7.0, 8.0]
    assert torch.isnan(tgt_out[1, 1:]).all()  # the loss reads its mask from the NaNs
    assert tgt_in[0].tolist() == [[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]]  # step 0: the start vector's slot
    assert tgt_in[1].tolist() == [[0.0, 0.0], [7.0, 8.0], [0.0, 0.0]]
    assert not torch.isnan(tgt_in).any()
    assert [side.steps(r) for r in rows] == lengths.tolist()


@pytest.mark.parametrize("normalise", [False, True])
def test_feature_save_load(tmp_path, normalise):
    side = FeatureSide.fit([np.arange(6.0).reshape(3, 2)], normalise=normalise, reversal=InputReversal())
    side.save(tmp_path, "source")
    meta = json.loads((tmp_path / "source.features.json").read_text())
    assert meta == {"kind": "features", "dim": 2, "normalised": normalise}
    assert (tmp_path / "source.features.safetensors").exists() == normalise
    again = FeatureSide.load(tmp_path, "source", InputReversal(True))
    assert again.dim == 2 and again.reversal.enabled
    values = np.array([[1.0, 2.0], [3.0, 5.0]])
    assert np.array_equal(again.encode(values), side.encode(values)[::-1])


def test_feature_load_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"source\.features\.json: cannot load feature statistics"):
        FeatureSide.load(tmp_path, "source", InputReversal())
    (tmp_path / "t.features.json").write_text('{"kind": "features", "dim": 2, "normalised": true}')
    with pytest.raises(ValueError, match=r"t\.features\.json: cannot load feature statistics"):
        FeatureSide.load(tmp_path, "t", InputReversal())  # the statistics file is missing
    (tmp_path / "u.features.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"u\.features\.json: cannot load"):
        FeatureSide.load(tmp_path, "u", InputReversal())
