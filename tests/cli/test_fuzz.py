"""Property tests of the command line: any decoding flag values, any bytes on stdin (invalid UTF-8, NUL, lone CRs,
inputs over the length limit) and any `--set key=value` give a result or one `seq2seq: error:` line per problem
with a non-zero status, never a traceback; translate always writes one output line per input line."""

import io
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seq2seq.cli import main

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1"

NUMBER_TEXT = (st.integers(-(10**25), 10**25).map(str) | st.integers(-3, 12).map(str) | st.floats().map(repr)
               | st.sampled_from(["nan", "inf", "-inf", "1e-300", "1e300", "0", "-0", "2", "0.5", "", "abc", "1e-3"]))
FLAG = st.sampled_from(["--beam", "--nbest", "--batch-size", "--temperature", "--top-k", "--top-p", "--seed",
                        "--alpha", "--min-length", "--max-length"])
DECODE_KEYS = ["decode." + k for k in ("strategy", "beam_size", "nbest", "max_output_length", "max_source_length",
                                       "truncate_source", "temperature", "top_p", "seed", "max_length_a", "nope")]
SET = st.tuples(st.sampled_from(DECODE_KEYS) | st.sampled_from(["model.cell", "decode", "x"]),
                st.text(max_size=8) | NUMBER_TEXT).map(lambda kv: ["--set", f"{kv[0]}={kv[1]}"])
ARGS = st.lists(st.tuples(FLAG, NUMBER_TEXT).map(list) | SET | st.just(["--sample"]), max_size=4).map(
    lambda groups: [a for g in groups for a in g])

LINE = st.one_of(st.text(max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=12),
                 st.sampled_from([b"abc", b"", b"a\rb", b"\x00", b"\xff", b"1 2 3", b"nan", b"\t", b"abcde" * 300]))
STDIN = st.tuples(st.lists(LINE, max_size=5), st.booleans()).map(
    lambda t: b"".join(line + b"\n" for line in t[0]) + (b"tail" if t[1] else b""))


def _run(monkeypatch, capsys, argv, data: bytes):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))  # bytes under text
    capsys.readouterr()
    try:
        status = main(argv)
    except SystemExit as e:  # argparse's own refusal of a malformed value: usage and status 2
        status = e.code
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return status, out.out, out.err


def _lines_in(data: bytes) -> int:
    return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


def _translate(monkeypatch, capsys, run, args, data):
    status, out, err = _run(monkeypatch, capsys, ["translate", str(V1 / run), *args], data)
    if status == 2:  # refused before any work: one line, no output
        assert out == "" and len(err.strip().splitlines()) >= 1 and err.startswith(("seq2seq: error: ", "usage:"))
        return
    assert status in (0, 1), err
    nbest = {int(line.split("\t")[0]) for line in out.splitlines()} if "\t" in out else None
    if nbest is None:
        assert out.count("\n") == _lines_in(data)  # one output line per input line, always
    else:
        assert nbest <= set(range(_lines_in(data)))
    problems = [line for line in err.splitlines() if line.startswith("seq2seq: error: ")]
    assert (status == 1) == bool(problems)
    assert all(line.startswith("seq2seq: error: stdin:") for line in problems)


@pytest.mark.parametrize("run, examples", [("tokens", 40), ("features", 25),
                                           pytest.param("tokens", 150, marks=pytest.mark.slow),
                                           pytest.param("features", 100, marks=pytest.mark.slow)])
def test_translate_any_flags_and_stdin(monkeypatch, capsys, run, examples):
    check = given(ARGS, STDIN)(lambda args, data: _translate(monkeypatch, capsys, run, args, data))
    settings(max_examples=examples)(check)()


@settings(max_examples=40)
@given(st.lists(st.tuples(st.text(max_size=14), st.text(max_size=10) | NUMBER_TEXT), max_size=3))
def test_config_any_set_is_printed_or_refused_in_one_line(monkeypatch, capsys, pairs):
    argv = ["config"] + [a for key, value in pairs for a in ("--set", f"{key}={value}")]
    status, out, err = _run(monkeypatch, capsys, argv, b"")
    assert status in (0, 2)
    if status == 2:
        assert out == "" and err.startswith(("seq2seq: error: ", "usage:"))
        assert err.startswith("usage:") or len(err.strip().splitlines()) == 1
