"""Vocab: specials, frequency order, limits, encode/decode and JSON files."""

import json

import pytest

from seq2seq.data.vocab import BOS, EOS, PAD, UNK, Vocab


def test_specials_and_frequency_order():
    vocab = Vocab.build([["b", "a", "c"], ["a", "c"], ["d"]])
    assert (PAD, UNK, BOS, EOS) == (0, 1, 2, 3)
    assert vocab.tokens == ["<pad>", "<unk>", "<s>", "</s>", "a", "c", "b", "d"]  # ties: first appearance
    assert len(vocab) == 8 and "a" in vocab and "z" not in vocab


def test_build_is_deterministic():
    lists = [list("hello world"), list("seq2seq")]
    assert Vocab.build(lists).tokens == Vocab.build(lists).tokens


def test_min_freq_and_max_size_counts_specials():
    lists = [["a", "a", "a", "b", "b", "c"]]
    assert Vocab.build(lists, min_freq=2).tokens[4:] == ["a", "b"]
    assert Vocab.build(lists, max_size=5).tokens[4:] == ["a"]
    assert len(Vocab.build(lists, max_size=6)) == 6


def test_special_strings_in_text_are_not_duplicated():
    vocab = Vocab.build([["<s>", "x", "</s>"]])
    assert vocab.tokens == ["<pad>", "<unk>", "<s>", "</s>", "x"]


def test_encode_decode():
    vocab = Vocab.build([["x", "y"]])
    ids = vocab.encode(["x", "zzz", "y"])
    assert ids == [4, UNK, 5]
    assert vocab.decode([BOS, *ids, EOS, 4, PAD]) == ["x", "<unk>", "y"]
    assert vocab.decode([BOS, 4, EOS, PAD], strip_special=False) == ["<s>", "x", "</s>", "<pad>"]
    with pytest.raises(ValueError, match="outside"):
        vocab.decode([99])


def test_save_load(tmp_path):
    vocab = Vocab.build([list("안녕 hello")])
    path = tmp_path / "vocab.json"
    vocab.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["version"] == 1 and data["tokens"] == vocab.tokens
    assert Vocab.load(path) == vocab


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"tokens": [1]}',
                                     '{"tokens": ["a", "b"], "version": 1}',
                                     '{"tokens": ["<pad>", "<unk>", "<s>", "</s>"], "version": 99}'])
def test_load_malformed_names_file(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="bad.json"):
        Vocab.load(path)
