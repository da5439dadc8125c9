"""Vocabularies from files: one token per line with optional counts, specials skipped, min_freq and max size,
errors naming the line."""

import pytest

from seq2seq.data.datasets import DataError
from seq2seq.data.vocab import SPECIALS
from seq2seq.data.vocab_file import read_vocab


def _write(tmp_path, text, name="vocab.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_tokens_in_file_order_after_the_specials(tmp_path):
    path = _write(tmp_path, "<unk>\nthe\t120\nHaus 7\n2019\n \t3\nNew York\t2\n")
    vocab = read_vocab(path)
    assert vocab.tokens == [*SPECIALS, "the", "Haus", "2019", " ", "New York"]


def test_min_freq_drops_counted_tokens_and_max_size_counts_the_specials(tmp_path):
    path = _write(tmp_path, "a\t10\nb\t2\nc\nd\t1\n")
    assert read_vocab(path, min_freq=2).tokens[4:] == ["a", "b", "c"]  # c has no count: kept
    assert read_vocab(path, max_size=6).tokens[4:] == ["a", "b"]


@pytest.mark.parametrize("text, message", [
    ("a\nb\na\n", r"vocab.txt:3: token 'a' listed again \(first on line 1\)"),
    ("a\n\nb\n", r"vocab.txt:2: blank line"),
    ("a\t-3\n", r"vocab.txt:1: count '-3' is not a non-negative integer"),
    ("\t4\n", r"vocab.txt:1: empty token"),
])
def test_bad_lines_are_named(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_vocab(_write(tmp_path, text))
