"""Corpus readers: formats, auto-detection, gzip, exact `file:line` errors, skipping, inspect."""

import gzip
import json
from pathlib import Path

import pytest

from seq2seq.config import ConfigError
from seq2seq.data.datasets import DataError, format_inspection, inspect_file, read_pairs

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "book"  # the first 300 lines of the textbook files
BOOK = ROOT.parent / "shared" / "data" / "book"  # the whole files, beside the repository


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_tsv(tmp_path):
    f = write(tmp_path / "a.tsv", "hello\tworld\n안녕\t세계 \n\n\n")
    result = read_pairs(f)
    assert result.pairs == [("hello", "world"), ("안녕", "세계")]
    assert result.skipped == [] and result.format == "tsv"


def test_jsonl(tmp_path):
    lines = [json.dumps({"source": "a b", "target": "c", "id": 1}), json.dumps({"source": "안녕", "target": "x"})]
    result = read_pairs(write(tmp_path / "a.jsonl", "\n".join(lines) + "\n"))
    assert result.pairs == [("a b", "c"), ("안녕", "x")]


def test_book(tmp_path):
    f = write(tmp_path / "add.txt", "16+75  _91  \n52+607 _659 \n")
    assert read_pairs(f, fmt="book").pairs == [("16+75", "91"), ("52+607", "659")]
    f = write(tmp_path / "under.txt", "a_b_c\n")
    assert read_pairs(f, fmt="book").pairs == [("a", "b_c")]  # split at the first '_'


@pytest.mark.parametrize("name,content,fmt", [
    ("x.txt", "a\tb\n", "tsv"), ("x.txt", "16+75  _91  \n", "book"), ("x.data", "a_b\n", "book"),
    ("x.tsv", "a_b\tc\n", "tsv"), ("x.jsonl", '{"source": "a", "target": "b"}\n', "jsonl"),
])
def test_auto_detection(tmp_path, name, content, fmt):
    assert read_pairs(write(tmp_path / name, content)).format == fmt


def test_auto_detection_gives_up_with_a_hint(tmp_path):
    f = write(tmp_path / "x.txt", "\nplain text\n")
    with pytest.raises(DataError, match=rf"^{f}:2: cannot tell the format.*pass the format"):
        read_pairs(f)


def test_gzip(tmp_path):
    f = tmp_path / "a.tsv.gz"
    f.write_bytes(gzip.compress(b"x\ty\n"))
    assert read_pairs(f).pairs == [("x", "y")]
    g = tmp_path / "b.txt.gz"
    g.write_bytes(gzip.compress(b"1+1_2\n"))
    assert read_pairs(g).pairs == [("1+1", "2")]
    bad = write(tmp_path / "c.tsv.gz", b"not gzip")
    with pytest.raises(DataError, match=rf"^{bad}: not a valid gzip file"):
        read_pairs(bad)


@pytest.mark.parametrize("name,content,line,message", [
    ("a.tsv", "a\tb\nonly one column\n", 2, "expected 2 tab-separated columns (source<TAB>target), found 1"),
    ("a.tsv", "a\tb\tc\n", 1, "expected 2 tab-separated columns (source<TAB>target), found 3"),
    ("a.tsv", "a\tb\n \tb\n", 2, "empty source"),
    ("a.tsv", "a\tb\na\t \n", 2, "empty target"),
    ("a.tsv", "a\tb\n\nc\td\n", 2, "blank line"),
    ("a.tsv", "a\tb\n  \nc\td\n", 2, "blank line"),
    ("a.tsv", "a\tb\n\t\nc\td\n", 2, "empty source and target"),  # a tab alone is no blank line
    ("a.jsonl", '{"source": "a", "target": "b"}\n \n{"source": "a", "target": "b"}\n', 2, "blank line"),
    ("a.tsv", b"a\tb\nc\t\xff\xfe\n", 2, "invalid UTF-8 (invalid start byte at byte 3)"),
    ("a.tsv", b"a\tb\nc\x00d\te\n", 2, "NUL byte at column 2"),
    ("a.txt", b"1+1_2\n\x00\x001_2\n", 2, "NUL byte at column 1"),
    ("a.jsonl", '{"source": "a", "target": "b"}\n{"source": "a"\n', 2, "invalid JSON"),
    ("a.jsonl", '{"source": "a"}\n', 1, 'missing key "target"'),
    ("a.jsonl", '{"source": "a", "target": 3}\n', 1, '"target" must be a string, got int'),
    ("a.jsonl", '["a", "b"]\n', 1, "expected a JSON object"),
    ("a.txt", "1+1_2\n2+2\n", 2, "expected question_answer: no '_' in the line"),
    ("a.txt", "1+1_2\n_4\n", 2, "empty source"),
    ("a.tsv", "", None, "empty file: no pairs"),
    ("a.tsv", "\n\n", None, "empty file: no pairs"),
])
def test_line_errors(tmp_path, name, content, line, message):
    f = write(tmp_path / name, content)
    with pytest.raises(DataError) as info:
        read_pairs(f)
    assert str(info.value).startswith(f"{f}:{line}: {message}" if line else f"{f}: {message}")
    assert info.value.line == line and info.value.path == str(f)


def test_file_level_problems_name_no_line(tmp_path):
    with pytest.raises(DataError, match=rf"^{tmp_path}/missing.tsv: file not found$"):
        read_pairs(tmp_path / "missing.tsv")
    with pytest.raises(DataError, match=rf"^{tmp_path}: is a directory, not a data file$"):
        read_pairs(tmp_path)


def test_a_lone_carriage_return_stays_inside_its_line(tmp_path):
    f = write(tmp_path / "a.tsv", b"a\rb\tc\r\nd\te\n")  # CRLF ends a line; a lone CR does not
    assert read_pairs(f).pairs == [("a\rb", "c"), ("d", "e")]
    bad = write(tmp_path / "b.tsv", b"a\rb\tc\nd\n")
    with pytest.raises(DataError, match=rf"^{bad}:2: expected 2 tab-separated"):
        read_pairs(bad)


def test_skip_invalid_counts(tmp_path):
    f = write(tmp_path / "a.tsv", "a\tb\nbad\n\tx\nc\td\ne\tf\tg\n")
    result = read_pairs(f, skip_invalid=True)
    assert result.pairs == [("a", "b"), ("c", "d")]
    assert result.skipped == [f"{f}:2: expected 2 tab-separated columns (source<TAB>target), found 1",
                              f"{f}:3: empty source",
                              f"{f}:5: expected 2 tab-separated columns (source<TAB>target), found 3"]
    only_bad = write(tmp_path / "b.tsv", "bad\n")
    with pytest.raises(DataError, match=rf"^{only_bad}: no valid pairs \(1 invalid lines skipped\)"):
        read_pairs(only_bad, skip_invalid=True)
    with pytest.raises(DataError, match="file not found"):  # file-level errors still raise
        read_pairs(tmp_path / "nope.tsv", skip_invalid=True)


def test_pair_format(tmp_path):
    write(tmp_path / "train.de", "Hallo Welt\nDanke\n\n")
    (tmp_path / "train.en.gz").write_bytes(gzip.compress(b"Hello world\nThanks\n"))
    result = read_pairs(tmp_path / "train", fmt="pair", source_suffix=".de", target_suffix=".en.gz")
    assert result.pairs == [("Hallo Welt", "Hello world"), ("Danke", "Thanks")]
    assert read_pairs(tmp_path / "train", source_suffix=".de", target_suffix=".en.gz").format == "pair"


def test_pair_format_errors(tmp_path):
    src, tgt = write(tmp_path / "t.src", "a\nb\nc\n"), write(tmp_path / "t.tgt", "x\n\nz\n")
    with pytest.raises(DataError, match=rf"^{tgt}:2: empty target"):
        read_pairs(tmp_path / "t", fmt="pair", source_suffix=".src", target_suffix=".tgt")
    result = read_pairs(tmp_path / "t", fmt="pair", source_suffix=".src", target_suffix=".tgt", skip_invalid=True)
    assert result.pairs == [("a", "x"), ("c", "z")] and len(result.skipped) == 1
    write(tmp_path / "t.tgt", "x\ny\n")
    with pytest.raises(DataError) as info:
        read_pairs(tmp_path / "t", fmt="pair", source_suffix=".src", target_suffix=".tgt")
    assert str(info.value) == f"{src}:3: line counts differ: {src} has 3 lines, {tgt} has 2"
    with pytest.raises(ConfigError, match=r"format pair reads two files.*data.source_suffix.*got '' and ''"):
        read_pairs(tmp_path / "t", fmt="pair")


def test_unknown_format(tmp_path):
    with pytest.raises(ConfigError, match="data.format: bad value 'csv'; allowed values: auto, tsv, jsonl, book, pair"):
        read_pairs(tmp_path / "x", fmt="csv")


def test_inspect(tmp_path):
    f = write(tmp_path / "a.tsv", "abc\tx\nabcdef\txy\nbad line\n한\tz\n")
    stats = inspect_file(f)
    assert stats["pairs"] == 3 and stats["format"] == "tsv" and len(stats["invalid"]) == 1
    assert (stats["source"]["length_min"], stats["source"]["length_max"]) == (1, 6)
    assert stats["source"]["chars"] == 7 and stats["target"]["chars"] == 3
    assert sum(c for _, _, c in stats["source"]["histogram"]) == 3
    text = format_inspection(stats)
    assert "pairs: 3" in text and f"invalid: {f}:3:" in text
    assert inspect_file(f, tokenizer="word")["source"]["length_max"] == 1


def test_book_fixture_files_load_with_auto():
    for name, first in (("addition.txt", ("16+75", "91")), ("date.txt", ("september 27, 1994", "1994-09-27"))):
        result = read_pairs(FIXTURE / name)
        assert len(result.pairs) == 300 and result.pairs[0] == first and result.format == "book"
        assert result.skipped == []
    stats = inspect_file(FIXTURE / "date.txt")
    assert stats["source"]["length_max"] == 28 and stats["target"]["length_min"] == 10
    stats = inspect_file(FIXTURE / "addition.txt")
    assert (stats["source"]["length_min"], stats["source"]["length_max"]) == (3, 7)
    assert "pairs: 300" in format_inspection(stats)


def test_book_files_load_with_auto():
    if not BOOK.is_dir():
        pytest.skip(f"the whole textbook files are not at {BOOK} (tests/fixtures/book holds their first lines)")
    for name, first in (("addition.txt", ("16+75", "91")), ("date.txt", ("september 27, 1994", "1994-09-27"))):
        result = read_pairs(BOOK / name)
        assert len(result.pairs) == 50000 and result.pairs[0] == first and result.format == "book"
        assert result.pairs[:300] == read_pairs(FIXTURE / name).pairs
    stats = inspect_file(BOOK / "date.txt")
    assert stats["source"]["length_max"] == 29 and stats["target"]["length_min"] == 10
    assert "pairs: 50000" in format_inspection(stats)
