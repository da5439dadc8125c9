"""Property tests of the data-file boundary: any bytes (random, NUL, lone CR, CRLF, huge lines, UTF-16 or Latin-1
text) read as any format give pairs or a DataError naming the file and a real line, never another exception;
every line is either a pair or a counted skip, and no pair holds a NUL byte or a line break."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seq2seq.config import ConfigError
from seq2seq.data.datasets import DataError, read_pairs
from seq2seq.data.feature_files import read_feature_pairs

LINE = st.one_of(
    st.binary(max_size=30),
    st.text(max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass")),  # lone surrogates: invalid UTF-8
    st.text(max_size=20).map(lambda t: t.encode("utf-16")),  # NUL bytes everywhere
    st.text(max_size=20).map(lambda t: t.encode("latin-1", "replace")),
    st.sampled_from([b"a\tb", b"\x00", b"\r", b"\t", b"  ", b"a\rb\tc", b"1+1_2", b"x\t\x00y", b"\xef\xbb\xbfa\tb",
                     b'{"source": "a", "target": "b"}', b'{"source": 1}', b"1 2 3,2 3 4", b"1 nan,2", b"1;2 3,4"]),
    st.integers(1_000, 300_000).map(lambda n: b"x" * n + b"\ty" + b"z" * (n // 2)),  # a huge line
)
CONTENT = st.tuples(st.lists(LINE, max_size=8), st.sampled_from([b"\n", b"\r\n"]), st.booleans()).map(
    lambda t: t[1].join(t[0]) + (t[1] if t[2] else b""))
FORMATS = ["auto", "tsv", "jsonl", "book"]


def _lines(content: bytes) -> int:
    """Lines as the readers count them: LF-separated, trailing blank lines left out."""
    lines = content.split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return len(lines)


def _read(tmp_path_factory, content, fmt, skip):
    path = tmp_path_factory.mktemp("data") / "f.tsv"
    path.write_bytes(content)
    try:
        result = read_pairs(path, fmt=fmt, skip_invalid=skip)
    except (DataError, ConfigError) as e:
        assert str(e).startswith(f"{path}:") or str(e).startswith(f"{path} "), str(e)
        if isinstance(e, DataError) and e.line is not None:
            assert 1 <= e.line <= max(_lines(content), 1)
        return
    for source, target in result.pairs:
        for text in (source, target):
            assert text and text == text.strip() and "\x00" not in text and "\n" not in text
    if skip and fmt != "auto":
        assert len(result.pairs) + len(result.skipped) == _lines(content)  # every line: a pair or a counted skip
    else:
        assert len(result.pairs) <= _lines(content)


@pytest.mark.parametrize("examples", [80, pytest.param(600, marks=pytest.mark.slow)])
def test_any_file_gives_pairs_or_a_data_error_naming_a_real_line(tmp_path_factory, examples):
    check = given(CONTENT, st.sampled_from(FORMATS), st.booleans())(lambda c, f, k: _read(tmp_path_factory, c, f, k))
    settings(max_examples=examples)(check)()


def _read_features(tmp_path_factory, content, target_type, skip):
    path = tmp_path_factory.mktemp("data") / "f.csv"
    path.write_bytes(content)
    try:
        pairs, skipped = read_feature_pairs(path, "features", target_type, skip_invalid=skip)
    except DataError as e:
        assert str(e).startswith(f"{path}:") and "\n" not in str(e)
        return
    assert len(pairs) + len(skipped) == _lines(content) if skip else len(pairs) == _lines(content)
    dims = {p[0].shape[1] for p in pairs}
    assert len(dims) == 1 and all(p[0].dtype.kind == "f" and len(p[0]) for p in pairs)


@pytest.mark.parametrize("examples", [60, pytest.param(400, marks=pytest.mark.slow)])
def test_any_csv_gives_sequences_or_a_data_error(tmp_path_factory, examples):
    check = given(CONTENT, st.sampled_from(["features", "tokens"]), st.booleans())(
        lambda c, t, k: _read_features(tmp_path_factory, c, t, k))
    settings(max_examples=examples)(check)()
