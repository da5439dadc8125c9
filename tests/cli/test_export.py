"""`seq2seq export` and `--engine`: an exported directory (or a run with --engine onnx) translates as the run
does; errors are one line."""

from pathlib import Path

from seq2seq.cli import main

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1"
LINES = "abcd\nxyz\n\nhello world\n"


def _translate(capsys, *args):
    assert main(["translate", *args]) == 0
    return capsys.readouterr().out


def test_export_then_translate_on_either_engine(tmp_path, capsys):
    out = tmp_path / "exported"
    assert main(["export", str(V1 / "tokens"), "--format", "onnx", "--out", str(out)]) == 0
    assert "exported" in capsys.readouterr().out
    inputs = tmp_path / "in.txt"
    inputs.write_text(LINES)
    expected = _translate(capsys, str(V1 / "tokens"), "--input", str(inputs))
    assert _translate(capsys, str(out), "--input", str(inputs)) == expected
    assert _translate(capsys, str(V1 / "tokens"), "--engine", "onnx", "--input", str(inputs)) == expected
    beam = ["--beam", "3", "--nbest", "2", "--input", str(inputs)]
    assert _translate(capsys, str(out), *beam) == _translate(capsys, str(V1 / "tokens"), *beam)


def test_export_errors_are_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    out = tmp_path / "exported"
    assert main(["export", str(V1 / "features"), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["translate", str(out), "--engine", "torch"]) == 2
    assert "holds ONNX graphs, not PyTorch weights" in capsys.readouterr().err
