"""Streaming a text file line by line: gzip, byte-order mark, line ends, and errors naming the line."""

import gzip

import pytest

from seq2seq.data.datasets import DataError
from seq2seq.data.lines import numbered_lines


def test_lines_are_numbered_and_gzip_is_undone(tmp_path):
    plain = tmp_path / "a.txt"
    plain.write_bytes(b"\xef\xbb\xbfone\r\ntwo\nthree")
    packed = tmp_path / "a.txt.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, packed):
        assert list(numbered_lines(path)) == [(1, "one"), (2, "two"), (3, "three")]


def test_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\n\xff\xfe\n")
    with pytest.raises(DataError, match=r"bad.txt:2: invalid UTF-8 .*binary word2vec"):
        list(numbered_lines(bad))
    with pytest.raises(DataError, match=r"missing.txt:1: file not found"):
        list(numbered_lines(tmp_path / "missing.txt"))
    broken = tmp_path / "broken.gz"
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=r"broken.gz:1: cannot read file"):
        list(numbered_lines(broken))
