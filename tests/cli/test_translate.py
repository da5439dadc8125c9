"""`seq2seq translate` (and `eval`'s decoding flags): line alignment, n-best format, files, and the decoding
flags overriding the run's decode section."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import seq2seq
from seq2seq import build_config
from seq2seq.cli import main
from seq2seq.data.corpus import build_sides
from seq2seq.data.tasks import generate_splits
from seq2seq.runs.bundle import assemble
from seq2seq.runs.checkpoint import write_checkpoint

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1"


def _translate(run, text, *args):
    return subprocess.run([sys.executable, "-m", "seq2seq", "translate", str(run), *args], input=text,
                          capture_output=True, text=True, timeout=120)


def _in_process(monkeypatch, capsys, run, text, *args):
    """`seq2seq translate RUN ARGS` in this process with `text` on stdin: (status, stdout, stderr)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    capsys.readouterr()
    status = main(["translate", str(run), *args])
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.slow
def test_translate_keeps_line_alignment(reverse_run):
    result = _translate(reverse_run, "abc\n\nabcdefgh\nq\n\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    assert len(lines) == 6 and lines[-1] == ""
    assert lines[1] == "" and lines[4] == ""
    assert lines[0] == "cba" and lines[3] == "q"


@pytest.mark.slow
def test_translate_nbest_format_and_files(reverse_run, tmp_path):
    (tmp_path / "in.txt").write_text("abc\nxyz\n")
    result = _translate(reverse_run, "", "--input", str(tmp_path / "in.txt"), "--beam", "3", "--nbest", "2",
                        "--output", str(tmp_path / "out.txt"), "--attention", str(tmp_path / "att.png"))
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in (tmp_path / "out.txt").read_text().splitlines()]
    assert [r[0] for r in rows] == ["0", "0", "1", "1"]
    assert all(float(r[1]) <= 0 for r in rows)
    assert rows[0][2] == "cba"
    assert (tmp_path / "att.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_translate_draws_a_transformers_heads(transformer_run, tmp_path):
    result = _translate(transformer_run, "abc\n", "--attention", str(tmp_path / "att.png"))
    assert result.returncode == 0, result.stderr
    assert "no attention to draw" not in result.stderr
    assert (tmp_path / "att.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_translate_sampling_is_reproducible(reverse_run):
    a = _translate(reverse_run, "hello\n", "--sample", "--seed", "3", "--temperature", "2")
    b = _translate(reverse_run, "hello\n", "--sample", "--seed", "3", "--temperature", "2")
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    c = _translate(reverse_run, "hello\n", "--sample", "--seed", "3", "--temperature", "2", "--nbest", "3")
    assert [line.split("\t")[0] for line in c.stdout.splitlines()] == ["0", "0", "0"]


@pytest.mark.slow
def test_the_runs_decode_section_is_the_default_and_flags_override_it(beam_run, monkeypatch, capsys):
    status, out, _ = _in_process(monkeypatch, capsys, beam_run, "abc\nhello\n")
    assert status == 0
    rows = [line.split("\t") for line in out.splitlines()]
    assert [r[0] for r in rows] == ["0", "0", "1", "1"]  # decode.nbest=2 from training: two lines each
    assert float(rows[0][1]) >= float(rows[1][1])
    status, greedy, _ = _in_process(monkeypatch, capsys, beam_run, "abc\nhello\n", "--beam", "1")
    assert status == 0
    assert len(greedy.splitlines()) == 2 and "\t" not in greedy  # --beam 1: greedy, one plain line each
    status, same, _ = _in_process(monkeypatch, capsys, beam_run, "abc\nhello\n", "--set", "decode.strategy=greedy")
    assert status == 0 and same == greedy
    status, three, _ = _in_process(monkeypatch, capsys, beam_run, "abc\n", "--nbest", "3")
    assert status == 0 and len(three.splitlines()) == 3  # the run's beam_size 5 with --nbest 3


def test_decode_flags_on_a_greedy_run(monkeypatch, capsys):
    status, out, _ = _in_process(monkeypatch, capsys, V1 / "tokens", "abc\nhello\n")
    assert status == 0 and out.splitlines() == ["s", "z"]  # what the run gave (tests/fixtures/v1/expected.json)
    status, out, _ = _in_process(monkeypatch, capsys, V1 / "tokens", "abc\nhello\n",
                                 "--set", "decode.strategy=beam", "--set", "decode.nbest=2", "--set",
                                 "decode.beam_size=3")
    expected = json.loads((V1 / "expected.json").read_text())["beam3_nbest2"]
    rows = [line.split("\t") for line in out.splitlines()]
    assert status == 0 and [r[0] for r in rows] == ["0", "0", "1", "1"]
    assert [r[2] for r in rows] == [t for hyps in expected[:2] for t, _ in hyps]
    assert [float(r[1]) for r in rows] == pytest.approx([s for hyps in expected[:2] for _, s in hyps], abs=1e-4)
    status, same, _ = _in_process(monkeypatch, capsys, V1 / "tokens", "abc\nhello\n", "--beam", "3", "--nbest", "2")
    assert status == 0 and same == out


@pytest.mark.parametrize("args, message", [
    (["--nbest", "3"], "seq2seq: error: decode.nbest=3 needs decode.strategy=beam"),
    (["--set", "model.x=1"], "seq2seq: error: --set 'model.x=1': only decode.* keys can change here"),
    (["--set", "model.attention=dot"], "--set 'model.attention=dot': only decode.* keys"),
    (["--set", "decode.nope=1"], "--set 'decode.nope=1': only decode.* keys"),
    (["--set", "decode.temperature=0"], "decode.temperature"),
    (["--beam", "2", "--nbest", "3"], "decode.nbest (3) cannot exceed decode.beam_size (2)"),
    (["--beam", "0"], "decode.beam_size"),
    (["--sample", "--beam", "3"], "sampling and beam search exclude each other"),
])
def test_bad_decoding_flags_exit_2_with_one_line(monkeypatch, capsys, args, message):
    status, out, err = _in_process(monkeypatch, capsys, V1 / "tokens", "abc\n", *args)
    assert status == 2 and out == ""
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_feature_models_translate_csv_lines(monkeypatch, capsys):
    status, out, _ = _in_process(monkeypatch, capsys, V1 / "features", "1 2 3\n\n4 5 6 7\n")
    lines = out.split("\n")
    assert status == 0 and len(lines) == 4 and lines[1] == "" and lines[-1] == ""
    expected = json.loads((V1 / "expected.json").read_text())["vector_outputs"]
    assert [float(v) for v in lines[0].split()] == pytest.approx([v[0] for v in expected[0]], abs=0.01)
    for flags, message in ((["--beam", "2"], "decode.strategy=beam has no meaning for data.target_type=features"),
                           (["--nbest", "2"], "decode.nbest=2 has no meaning for data.target_type=features"),
                           (["--sample"], "decode.strategy=sample has no meaning for data.target_type=features")):
        status, out, err = _in_process(monkeypatch, capsys, V1 / "features", "1 2\n", *flags)
        assert status == 2 and out == "" and message in err


def test_lines_a_feature_model_cannot_read_get_an_empty_line_and_a_message(monkeypatch, capsys):
    status, out, err = _in_process(monkeypatch, capsys, V1 / "features", "1 2 3\n\nabc\nnan\n\t\nhello world\n4 5\n")
    lines = out.split("\n")
    assert status == 1 and len(lines) == 8 and lines[-1] == ""
    assert [bool(line) for line in lines[:7]] == [True, False, False, False, False, False, True]
    assert lines[0] == _in_process(monkeypatch, capsys, V1 / "features", "1 2 3\n")[1].strip()  # the same as alone
    assert err.splitlines() == [
        "seq2seq: error: stdin:3: not a number ('abc') (the model reads sequences of 1-value vectors: values "
        "separated by spaces, steps by ';')",
        "seq2seq: error: stdin:4: non-finite value (nan) at step 0 (the model reads sequences of 1-value vectors: "
        "values separated by spaces, steps by ';')",
        "seq2seq: error: stdin:6: not a number ('hello') (the model reads sequences of 1-value vectors: values "
        "separated by spaces, steps by ';')",
        "seq2seq: 3 of 7 input lines not translated; their output lines are empty"]


def test_every_input_line_gets_exactly_one_output_line(monkeypatch, capsys, tmp_path):
    alone = {text: _in_process(monkeypatch, capsys, V1 / "tokens", text + "\n")[1] for text in ("abc", "xyz", "a\rb")}
    data = tmp_path / "in.txt"
    data.write_bytes(b"abc\na\rb\r\nx\xffy\nq\x00r\n" + b"abcde" * 300 + b"\nxyz")  # no final line feed
    status, out, err = _in_process(monkeypatch, capsys, V1 / "tokens", "", "--input", str(data))
    assert status == 1 and out.split("\n") == [alone["abc"].strip(), alone["a\rb"].strip(), "", "", "",
                                               alone["xyz"].strip(), ""]
    assert err.splitlines() == [
        f"seq2seq: error: {data}:3: invalid UTF-8 (invalid start byte at byte 2)",
        f"seq2seq: error: {data}:4: NUL byte at column 2 (a binary or UTF-16 file?)",
        f"seq2seq: error: {data}:5: 1500 source steps, more than decode.max_source_length=1000; raise it, or set "
        f"decode.truncate_source=true to cut long inputs",
        "seq2seq: 3 of 6 input lines not translated; their output lines are empty"]


def test_files_that_cannot_be_used_are_refused_before_any_work(monkeypatch, capsys, tmp_path):
    (tmp_path / "file").write_text("abc\n")
    for args, message in ((["--input", str(tmp_path)], f"--input {tmp_path}: is a directory"),
                          (["--input", str(tmp_path / "nope")], f"--input {tmp_path / 'nope'}: cannot read it (No "
                                                                  f"such file or directory)"),
                          (["--output", str(tmp_path)], f"--output {tmp_path}: is a directory"),
                          (["--output", str(tmp_path / "file" / "x")], f"--output {tmp_path / 'file' / 'x'}: cannot "
                                                                         f"write it (Not a directory)")):
        status, out, err = _in_process(monkeypatch, capsys, V1 / "tokens", "abc\n", *args)
        assert status == 2 and out == "" and err.startswith(f"seq2seq: error: {message}")
        assert len(err.splitlines()) == 1


def test_attention_needs_a_model_with_attention(monkeypatch, capsys, tmp_path):
    cfg = build_config(overrides={"data.task": "reverse", "model.embedding_size": 4, "model.encoder_hidden": 8,
                                  "model.decoder_hidden": 8})
    source, target = build_sides(cfg, generate_splits("reverse", 30, 5, 0, 1)["train"])
    bundle = assemble(cfg, source, target)
    write_checkpoint(tmp_path / "run", 1, lambda d: bundle.save_into(d, {"step": 1, "epoch": 1}), ("last", "best"))
    status, out, err = _in_process(monkeypatch, capsys, tmp_path / "run", "abc\n", "--attention",
                                   str(tmp_path / "a.png"))
    assert status == 2 and out == ""
    assert err == (f"seq2seq: error: --attention {tmp_path / 'a.png'}: the model has no attention "
                   f"(model.attention=none)\n")
    status, out, _ = _in_process(monkeypatch, capsys, V1 / "features", "1 2 3\n", "--attention",
                                 str(tmp_path / "f.png"))
    assert status == 0 and (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"  # feature models draw theirs


def test_sampling_without_a_seed_says_which_seed_it_drew(monkeypatch, capsys, caplog):
    caplog.set_level("INFO", logger="seq2seq")
    status, out, _ = _in_process(monkeypatch, capsys, V1 / "tokens", "abcdefgh\n", "--sample", "--temperature", "3")
    (message,) = [m for m in caplog.messages if m.startswith("sampling with seed")]
    seed = message.split()[3]
    assert status == 0 and message == f"sampling with seed {seed} (--seed {seed} repeats this run)"
    assert _in_process(monkeypatch, capsys, V1 / "tokens", "abcdefgh\n", "--sample", "--temperature", "3",
                       "--seed", seed)[1] == out


def test_eval_takes_the_decoding_flags(tmp_path, capsys):
    data = tmp_path / "valid.tsv"
    data.write_text("abc\tcba\nhello\tolleh\nzyx\txyz\n")
    capsys.readouterr()
    assert main(["eval", str(V1 / "tokens"), "--data", str(data), "--predictions", str(tmp_path / "g.tsv")]) == 0
    greedy = json.loads(capsys.readouterr().out)
    assert greedy["sentences"] == 3 and {"loss", "perplexity", "token_accuracy", "exact_match"} <= set(greedy)
    hyps = [line.split("\t")[2] for line in (tmp_path / "g.tsv").read_text().splitlines()[1:]]
    assert hyps == ["s", "z", "r"]
    assert main(["eval", str(V1 / "tokens"), "--data", str(data), "--predictions", str(tmp_path / "b.tsv"),
                 "--beam", "3", "--nbest", "2"]) == 0
    beam = json.loads(capsys.readouterr().out)
    assert beam["loss"] == greedy["loss"]  # teacher-forced: the decoding flags do not touch it
    lines = (tmp_path / "b.tsv").read_text().splitlines()
    assert len(lines) == 4 and [line.split("\t")[2] for line in lines[1:]] == ["s", "v", "r"]  # the best of beam 3
    assert main(["eval", str(V1 / "tokens"), "--data", str(data), "--set", "model.cell=gru"]) == 2
    assert "only decode.* keys can change here" in capsys.readouterr().err


def test_eval_leaves_out_pairs_beyond_the_generation_bounds(tmp_path, capsys, caplog):
    data = tmp_path / "valid.tsv"
    data.write_text("abc\tcba\n" + "ab" * 800 + "\tx\nhello\tolleh\n")
    caplog.set_level("WARNING", logger="seq2seq")
    capsys.readouterr()
    assert main(["eval", str(V1 / "tokens"), "--data", str(data), "--predictions", str(tmp_path / "p.tsv")]) == 0
    assert json.loads(capsys.readouterr().out)["sentences"] == 2
    assert caplog.messages == [f"{data}: dropped 1 of 3 pairs longer than decode.max_source_length=1000 or "
                               f"decode.max_output_length=1000"]
    assert [line.split("\t")[0] for line in (tmp_path / "p.tsv").read_text().splitlines()[1:]] == ["abc", "hello"]


def test_translate_with_several_runs_decodes_their_ensemble(make_run, monkeypatch, capsys, tmp_path):
    a, b = make_run("a", seed=1), make_run("b", seed=2, **{"model.attention_heads": 2})
    status, out, err = _in_process(monkeypatch, capsys, a, "abc\nhello\n", str(b), "--beam", "3",
                                   "--attention", str(tmp_path / "att.png"))
    assert status == 0, err
    expected = seq2seq.load_ensemble([a, b]).translate(["abc", "hello"], beam=3)
    assert out.splitlines() == [h[0].text for h in expected]
    assert (tmp_path / "att.png").read_bytes()[:4] == b"\x89PNG"
    status, out, err = _in_process(monkeypatch, capsys, a, "abc\n", str(make_run("c", text="xyz")))
    assert status == 2 and "the target vocabularies differ" in err


def test_attention_heads_are_drawn_beside_their_mean(make_run, monkeypatch, capsys, tmp_path):
    widths = {}
    for heads in (1, 2):
        run = make_run(f"h{heads}", **{"model.attention_heads": heads})
        png = tmp_path / f"att{heads}.png"
        status, _, err = _in_process(monkeypatch, capsys, run, "abc\n", "--attention", str(png))
        assert status == 0, err
        widths[heads] = int.from_bytes(png.read_bytes()[16:20], "big")  # the PNG header's width
    assert widths[2] > 2 * widths[1]  # the mean, then one panel per head, side by side
