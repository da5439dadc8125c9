"""From a config to encoded data: reading a split as the config says, fitting both sides (shared vocabulary
included), loading them back, and encoding pairs with the length filter."""

import logging

import numpy as np
import pytest

from seq2seq import build_config
from seq2seq.config import ConfigError
from seq2seq.data.corpus import build_sides, encode_pairs, load_sides, load_splits, read_split
from seq2seq.data.datasets import DataError
from seq2seq.data.feature_files import FeatureDataError
from seq2seq.data.sides import FeatureSide, TokenSide

TRAIN = [("abc", "xyz"), ("ba", "yx"), ("cab", "zxy")]


def _caught(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "seq2seq"]


def test_read_split_text_files_follow_the_config(tmp_path):
    (tmp_path / "a.txt").write_text("1+1_2\n2+2_4\n")
    assert read_split(tmp_path / "a.txt", build_config()) == [("1+1", "2"), ("2+2", "4")]  # format auto
    (tmp_path / "b.txt").write_text("1+1\t2\n")
    assert read_split(tmp_path / "b.txt", build_config(overrides={"data.format": "tsv"})) == [("1+1", "2")]
    (tmp_path / "t.de").write_text("Hallo\n")
    (tmp_path / "t.en").write_text("Hello\n")
    cfg = build_config(overrides={"data.source_suffix": ".de", "data.target_suffix": ".en"})
    assert read_split(tmp_path / "t", cfg) == [("Hallo", "Hello")]


def test_read_split_skips_and_reports_invalid_lines(tmp_path, caplog):
    path = tmp_path / "a.tsv"
    path.write_text("a\tb\nbad\nc\td\n")
    with pytest.raises(DataError, match=r"a\.tsv:2: expected 2 tab-separated columns"):
        read_split(path, build_config())
    caplog.set_level(logging.WARNING, logger="seq2seq")
    assert read_split(path, build_config(overrides={"data.skip_invalid": True})) == [("a", "b"), ("c", "d")]
    assert _caught(caplog) == [f"{path}: skipped 1 invalid line(s) (data.skip_invalid=true); first: {path}:2: "
                               "expected 2 tab-separated columns (source<TAB>target), found 1"]
    # the argument overrides data.skip_invalid either way
    assert read_split(path, build_config(), skip_invalid=True) == [("a", "b"), ("c", "d")]
    with pytest.raises(DataError):
        read_split(path, build_config(overrides={"data.skip_invalid": True}), skip_invalid=False)


def test_read_split_feature_files(tmp_path, caplog):
    (tmp_path / "a.csv").write_text("1 2,hello\n1 x,bad\n3 4 5,bye\n")
    cfg = build_config(overrides={"data.source_type": "features", "data.skip_invalid": True})
    caplog.set_level(logging.WARNING, logger="seq2seq")
    pairs = read_split(tmp_path / "a.csv", cfg)
    assert [p[0].shape for p in pairs] == [(2, 1), (3, 1)] and [p[1] for p in pairs] == ["hello", "bye"]
    assert len(_caught(caplog)) == 1 and "skipped 1 invalid line(s)" in _caught(caplog)[0]
    obj = np.empty(2, dtype=object)
    obj[:] = [np.zeros((2, 1)), np.ones((3, 1))]
    np.savez(tmp_path / "o.npz", source=obj, target=obj)
    both = {"data.source_type": "features", "data.target_type": "features"}
    with pytest.raises(FeatureDataError, match="data.npz_allow_pickle"):
        read_split(tmp_path / "o.npz", build_config(overrides=both))
    pairs = read_split(tmp_path / "o.npz", build_config(overrides={**both, "data.npz_allow_pickle": True}))
    assert [p[1].shape for p in pairs] == [(2, 1), (3, 1)]


def test_load_splits_from_a_task_or_files(tmp_path):
    cfg = build_config(overrides={"data.task": "reverse", "data.train_size": 20, "data.valid_size": 5,
                                  "data.test_size": 3})
    splits = load_splits(cfg)
    assert {k: len(v) for k, v in splits.items()} == {"train": 20, "valid": 5, "test": 3}
    for name in ("train", "valid"):
        (tmp_path / f"{name}.tsv").write_text(f"{name}\tx\n")
    cfg = build_config(overrides={"data.train": str(tmp_path / "train.tsv"), "data.valid": str(tmp_path / "valid.tsv")})
    assert load_splits(cfg) == {"train": [("train", "x")], "valid": [("valid", "x")]}  # no test file: no test split
    with pytest.raises(ConfigError, match="no data: give --task NAME, or --train FILE and --valid FILE"):
        load_splits(build_config(overrides={"data.train": str(tmp_path / "train.tsv")}))


def test_build_sides_fit_on_the_training_pairs():
    cfg = build_config(overrides={"data.reverse_source": True, "data.min_freq": 2})
    source, target = build_sides(cfg, TRAIN)
    assert isinstance(source, TokenSide) and isinstance(target, TokenSide)
    assert source.vocab.tokens[4:] == ["a", "b", "c"] and target.vocab.tokens[4:] == ["x", "y", "z"]
    assert source.reversal.enabled and not target.reversal.enabled
    assert source.encode("abc") == source.vocab.encode(["c", "b", "a"])
    cfg = build_config(overrides={"data.source_tokenizer": "word", "data.max_vocab_size": 5, "data.lowercase": True})
    source, target = build_sides(cfg, [("A b", "x"), ("a c", "x"), ("a", "y")])
    assert source.vocab.tokens == ["<pad>", "<unk>", "<s>", "</s>", "a"] and source.tokenizer.lowercase
    assert target.tokenizer.to_json()["kind"] == "char"


def test_shared_vocab_is_one_vocabulary_for_both_sides():
    cfg = build_config(overrides={"data.shared_vocab": True, "data.reverse_source": True})
    source, target = build_sides(cfg, TRAIN)
    assert source.vocab is target.vocab and source.tokenizer is target.tokenizer
    assert source.vocab.tokens[4:] == ["a", "b", "x", "y", "c", "z"]  # by frequency over both sides
    assert source.reversal.enabled and not target.reversal.enabled  # only the source is read backwards
    assert source.encode("ax") == [target.encode("x")[0], target.encode("a")[0]]


def test_vocabularies_from_files_replace_the_fitted_ones(tmp_path):
    (tmp_path / "src.txt").write_text("c\t9\nq\t5\na\t1\n", encoding="utf-8")
    (tmp_path / "tgt.txt").write_text("z\nx\n", encoding="utf-8")
    cfg = build_config(overrides={"data.source_vocab": str(tmp_path / "src.txt"), "data.min_freq": 2,
                                  "data.target_vocab": str(tmp_path / "tgt.txt")})
    source, target = build_sides(cfg, TRAIN)
    assert source.vocab.tokens[4:] == ["c", "q"] and target.vocab.tokens[4:] == ["z", "x"]
    assert target.encode("xyz") == [5, 1, 4]  # y is not in the file: <unk>
    shared = build_config(overrides={"data.shared_vocab": True, "data.source_vocab": str(tmp_path / "tgt.txt")})
    source, target = build_sides(shared, TRAIN)
    assert source.vocab is target.vocab and source.vocab.tokens[4:] == ["z", "x"]
    with pytest.raises(ConfigError, match=r"data.source_vocab .* and data.target_vocab .* differ"):
        build_config(overrides={"data.shared_vocab": True, "data.source_vocab": "a.txt", "data.target_vocab": "b.txt"})
    with pytest.raises(ConfigError, match=r"data.target_vocab needs data.target_type=tokens"):
        build_config(overrides={"data.target_vocab": "a.txt", "data.target_type": "features"})
    with pytest.raises(DataError, match=r"missing.txt:1: file not found"):
        build_sides(build_config(overrides={"data.target_vocab": str(tmp_path / "missing.txt")}), TRAIN)


def test_shared_sentencepiece_is_fitted_on_both_sides():
    texts = [("the cat sat", "le chat"), ("the dog ran", "le chien"), ("a cat ran", "un chat")] * 10
    cfg = build_config(overrides={"data.shared_vocab": True, "data.tokenizer": "sentencepiece",
                                  "data.sentencepiece_vocab_size": 30})
    source, target = build_sides(cfg, texts)
    assert source.vocab is target.vocab
    assert source.decode(source.encode("le chat")) == "le chat" and target.decode(target.encode("the dog")) == "the dog"


def test_feature_sides_fit_normalisation():
    train = [(np.array([[1.0], [3.0]]), "ab"), (np.array([[5.0]]), "b")]
    cfg = build_config(overrides={"data.source_type": "features"})
    source, target = build_sides(cfg, train)
    assert isinstance(source, FeatureSide) and isinstance(target, TokenSide)
    assert source.mean.tolist() == [3.0] and target.vocab.tokens[4:] == ["b", "a"]
    raw, _ = build_sides(build_config(overrides={"data.source_type": "features", "model.feature_norm": False}), train)
    assert raw.mean is None and raw.dim == 1


@pytest.mark.parametrize("overrides", [
    {"data.reverse_source": True, "data.tokenizer": "word"},
    {"data.source_type": "features", "data.target_type": "features", "data.reverse_source": True},
])
def test_load_sides_after_save(tmp_path, overrides):
    cfg = build_config(overrides=overrides)
    if cfg.data.source_type == "features":
        train = [(np.array([[1.0, 2.0], [2.0, 0.0]]), np.array([[3.0], [4.0], [8.0]]))]
    else:
        train = [("the cat", "le chat"), ("a dog", "un chien")]
    source, target = build_sides(cfg, train)
    source.save(tmp_path, "source")
    target.save(tmp_path, "target")
    loaded_source, loaded_target = load_sides(cfg, tmp_path)
    assert type(loaded_source) is type(source) and type(loaded_target) is type(target)
    assert loaded_source.reversal.enabled and not loaded_target.reversal.enabled
    for (s, t) in train:
        assert np.array_equal(np.asarray(loaded_source.encode(s)), np.asarray(source.encode(s)))
        assert np.array_equal(np.asarray(loaded_target.encode(t)), np.asarray(target.encode(t)))


def test_encode_pairs_drops_and_counts_long_pairs(caplog):
    source, target = build_sides(build_config(), [("abcd", "abc")])
    pairs = [("ab", "a"), ("abcd", "a"), ("a", "abc")]
    caplog.set_level(logging.WARNING, logger="seq2seq")
    kept = encode_pairs(pairs, source, target, 3, 2, label="valid")
    assert kept == [(source.encode("ab"), target.encode("a"))]
    assert _caught(caplog) == ["valid: dropped 2 of 3 pairs longer than data.max_source_length=3 or "
                               "data.max_target_length=2"]
    caplog.clear()
    encode_pairs(pairs, source, target, 3, None, label="train")  # an unset limit is not named
    assert _caught(caplog) == ["train: dropped 1 of 3 pairs longer than data.max_source_length=3"]
    caplog.clear()
    assert encode_pairs(pairs, source, target, None, None) == [(source.encode(s), target.encode(t)) for s, t in pairs]
    assert encode_pairs(pairs, source, target, 4, 3) == encode_pairs(pairs, source, target)
    assert _caught(caplog) == []


def test_encode_pairs_measures_encoded_lengths():
    cfg = build_config(overrides={"data.source_type": "features", "data.target_type": "features"})
    train = [(np.zeros((5, 2)), np.zeros((2, 1))), (np.zeros((2, 2)), np.zeros((4, 1)))]
    source, target = build_sides(cfg, train)
    assert len(encode_pairs(train, source, target, max_source_length=4)) == 1
    assert len(encode_pairs(train, source, target, max_target_length=3)) == 1
