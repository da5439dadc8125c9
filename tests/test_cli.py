import subprocess
import sys

from seq2seq.cli import main


def _translate(run, text, *args):
    return subprocess.run([sys.executable, "-m", "seq2seq", "translate", str(run), *args], input=text,
                          capture_output=True, text=True, timeout=120)


def test_translate_keeps_line_alignment(reverse_run):
    result = _translate(reverse_run, "abc\n\nabcdefgh\nq\n\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    assert len(lines) == 6 and lines[-1] == ""
    assert lines[1] == "" and lines[4] == ""
    assert lines[0] == "cba" and lines[3] == "q"


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


def test_translate_sampling_is_reproducible(reverse_run):
    a = _translate(reverse_run, "hello\n", "--sample", "--seed", "3", "--temperature", "2")
    b = _translate(reverse_run, "hello\n", "--sample", "--seed", "3", "--temperature", "2")
    assert a.stdout == b.stdout


def test_listing_commands(capsys):
    assert main(["tasks"]) == 0
    assert "addition" in capsys.readouterr().out
    assert main(["presets"]) == 0
    assert "reverse-peeky" in capsys.readouterr().out


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["train", "--task", "addition", "--set", "model.cell=transformer", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == \
        "seq2seq: error: model.cell: bad value 'transformer'; allowed values: lstm, gru, rnn"
    assert main(["translate", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\nc\n")
    assert main(["train", "--train", str(bad), "--valid", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "bad.tsv:2:" in capsys.readouterr().err


def test_plot_learning_curves(reverse_run, tmp_path, capsys):
    assert main(["plot", str(reverse_run), "--output", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
