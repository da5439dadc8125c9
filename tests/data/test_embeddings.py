"""Pretrained vectors (word2vec / GloVe / fastText text formats): what is found, headers, and errors naming
the file and line."""

import pytest
import torch

from seq2seq.data.datasets import DataError
from seq2seq.data.embeddings import read_vectors
from seq2seq.data.vocab import Vocab

VOCAB = Vocab.build([["the", "house", "is", "red"]])


def _write(tmp_path, text, name="vectors.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("header", ["", "4 3\n"], ids=["glove", "word2vec"])
def test_found_tokens_get_their_vectors(tmp_path, header):
    text = header + "the 0.1 0.2 0.3\nhaus 9 9 9\nred 1 -2 3.5 \n<pad> 7 7 7\nthe 5 5 5\n"
    vectors, found = read_vectors(_write(tmp_path, text), VOCAB, 3, "model.embedding_size")
    assert found.tolist() == [False] * 4 + [True, False, False, True]
    assert vectors[VOCAB.encode(["the"])[0]].tolist() == pytest.approx([0.1, 0.2, 0.3])  # the first of two
    assert vectors[VOCAB.encode(["red"])[0]].tolist() == [1.0, -2.0, 3.5]
    assert torch.equal(vectors[0], torch.zeros(3))  # <pad> stays zero


def test_tokens_with_spaces_take_the_leading_fields(tmp_path):
    vocab = Vocab.build([[". . ."]])
    vectors, found = read_vectors(_write(tmp_path, "a 1 1\n. . . 2 3\n"), vocab, 2, "model.embedding_size")
    assert bool(found[4]) and vectors[4].tolist() == [2.0, 3.0]


@pytest.mark.parametrize("text, message", [
    ("the 1 2 3 4\n", r"vectors.txt:1: a vector of 4 values, but model.embedding_size is 3"),
    ("10 300\nthe 1 2 3\n", r"vectors.txt:1: the header declares vectors of 300 values, but model.embedding_size is 3"),
    ("the 1 2 3\nred 1 2\n", r"vectors.txt:2: 2 values, expected a token and 3"),
    ("the 1 2 x\n", r"vectors.txt:1: the vector of 'the' holds a value that is not a number"),
    ("the 1 2 nan\n", r"vectors.txt:1: the vector of 'the' holds a non-finite value"),
    ("", r"vectors.txt:1: no vectors in the file"),
])
def test_bad_files_are_named_with_the_line(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_vectors(_write(tmp_path, text), VOCAB, 3, "model.embedding_size")
